output "role_arns" {
  description = "ARN of each role, by short name: the values of the workflows' role variables."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider (created here or found by its fixed name)."
  value       = local.provider_arn
}

output "roles" {
  description = "Each role's trusted subjects, managed policies and permissions boundary, by short name: what the stacks' tests assert."
  value = {
    for name, role in var.roles : name => {
      subjects             = role.subjects
      managed_policy_arns  = role.managed_policy_arns
      permissions_boundary = aws_iam_role.this[name].permissions_boundary
      name                 = aws_iam_role.this[name].name
    }
  }
}
