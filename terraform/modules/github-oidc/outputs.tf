output "role_arns" {
  description = "ARN of each role, by short name: the values of the workflows' role variables."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider (created here or found by its fixed name)."
  value       = local.provider_arn
}
