"""Automation for the Airflow on EKS GitOps platform."""
