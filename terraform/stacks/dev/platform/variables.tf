variable "admin_principal_arns" {
  description = "IAM roles of the platform team that get cluster-admin access entries; set in terraform.tfvars or TF_VAR_admin_principal_arns."
  type        = list(string)
  default     = []
}
