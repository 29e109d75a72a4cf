output "permissions_boundary_arn" {
  description = "ARN of the permissions boundary that every role of the stack carries, the apply role's included."
  value       = aws_iam_policy.boundary.arn
}

output "plan_policy_json" {
  description = "The terraform-plan role's policy: the data sources and the state, nothing that holds a secret."
  value       = jsonencode(local.plan_policy)
}

output "state_key_alias" {
  description = "Alias of the state bucket's customer-managed KMS key (made by `invoke tf-backend`)."
  value       = local.state_key_alias
}
