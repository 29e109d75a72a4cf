# Integration test: applies the module against a local AWS emulator (a moto server started with
# MOTO_ACCOUNT_ID=111111111111, dev's account) and reads it back. Run in the module folder:
#   terraform init -backend=false -test-directory=tests/apply
#   terraform test -test-directory=tests/apply -var='aws_endpoint="http://127.0.0.1:<port>"'
# The value is quoted because aws_endpoint is not a module variable. A plain `terraform test`
# does not look in tests/apply; tests/terraform/test_module_apply.py runs this file.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    eks = var.aws_endpoint
    iam = var.aws_endpoint
    sts = var.aws_endpoint
  }
}

# The emulator has no EKS Pod Identity associations: they are not sent to it. Their arguments are
# still the module's (the real role ARNs go in); tests/workload_iam.tftest.hcl covers them in plan mode.
override_resource {
  target = aws_eks_pod_identity_association.this
  values = {
    association_arn = "arn:aws:eks:eu-west-1:111111111111:podidentityassociation/airflow-dev/a-0000000000000000"
    association_id  = "a-0000000000000000"
  }
}

# Three of dev's workload identities (clusters/dev/cluster.yaml).
variables {
  cluster_name = "airflow-dev"
  workloads = {
    "external-secrets" = {
      namespace       = "external-secrets"
      service_account = "external-secrets"
      policy_json = jsonencode({
        Version = "2012-10-17"
        Statement = [
          { Sid = "Read", Effect = "Allow", Action = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], Resource = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/*" },
        ]
      })
    }
    "airflow-worker" = {
      namespace       = "airflow"
      service_account = "airflow-worker"
      policy_json = jsonencode({
        Version = "2012-10-17"
        Statement = [
          { Sid = "Logs", Effect = "Allow", Action = ["s3:PutObject", "s3:GetObject"], Resource = "arn:aws:s3:::airflow-dev-logs-111111111111/airflow/*" },
        ]
      })
    }
    "airflow-scheduler" = {
      namespace       = "airflow"
      service_account = "airflow-scheduler"
      policy_json = jsonencode({
        Version   = "2012-10-17"
        Statement = [{ Sid = "List", Effect = "Allow", Action = "s3:ListBucket", Resource = "arn:aws:s3:::airflow-dev-logs-111111111111" }]
      })
    }
  }
  tags = { Environment = "dev" }
}

run "apply" {
  command = apply

  assert {
    condition = output.role_arns == {
      "airflow-scheduler" = "arn:aws:iam::111111111111:role/airflow-dev-airflow-scheduler"
      "airflow-worker"    = "arn:aws:iam::111111111111:role/airflow-dev-airflow-worker"
      "external-secrets"  = "arn:aws:iam::111111111111:role/airflow-dev-external-secrets"
    }
    error_message = "Each role must be named <cluster>-<workload key>, in the emulated account (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition     = alltrue([for k, r in aws_iam_role.this : r.unique_id != "" && r.max_session_duration == 3600 && r.tags["Environment"] == "dev"])
    error_message = "Every role must be created, with one-hour sessions and the tags."
  }

  assert {
    condition     = alltrue([for k, a in aws_eks_pod_identity_association.this : a.role_arn == aws_iam_role.this[k].arn && a.cluster_name == "airflow-dev"]) && output.associations["airflow-worker"] == { namespace = "airflow", service_account = "airflow-worker" }
    error_message = "Each (not emulated) association must bind its own real role to its service account."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = toset([for r in aws_iam_role.this : r.name]) == toset(["airflow-dev-airflow-scheduler", "airflow-dev-airflow-worker", "airflow-dev-external-secrets"])
    error_message = "Read back, the three roles must exist under <cluster>-<workload key>."
  }

  assert {
    condition = jsondecode(aws_iam_role.this["airflow-worker"].assume_role_policy).Statement[0].Condition.StringEquals == {
      "aws:RequestTag/eks-cluster-name"           = "airflow-dev"
      "aws:RequestTag/kubernetes-namespace"       = "airflow"
      "aws:RequestTag/kubernetes-service-account" = "airflow-worker"
    }
    error_message = "Read back, the worker role must be assumable only by its own service account in this cluster."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : jsondecode(r.assume_role_policy).Statement[0].Principal.Service == "pods.eks.amazonaws.com"])
    error_message = "Read back, every role must trust EKS Pod Identity."
  }

  assert {
    condition     = alltrue([for k, p in aws_iam_role_policy.this : p.name == k && p.role == "airflow-dev-${k}"]) && jsondecode(aws_iam_role_policy.this["external-secrets"].policy).Statement[0].Resource == "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/*"
    error_message = "Read back, each role must carry its own inline policy."
  }
}
