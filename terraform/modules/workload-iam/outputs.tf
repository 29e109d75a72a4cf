output "role_arns" {
  description = "Role ARN by workload key."
  value       = { for key, role in aws_iam_role.this : key => role.arn }
}

output "role_names" {
  description = "Role name (`<cluster_name>-<key>`) by workload key."
  value       = { for key, role in aws_iam_role.this : key => role.name }
}

output "associations" {
  description = "Namespace and service account bound by each workload's Pod Identity association, by workload key; what `invoke check` compares with the rendered cluster."
  value = {
    for key, a in aws_eks_pod_identity_association.this : key => {
      namespace       = a.namespace
      service_account = a.service_account
    }
  }
}
