output "secret_arns" {
  description = "Secret ARN by name (after the prefix), for generated and plain secrets alike."
  value       = { for n, s in aws_secretsmanager_secret.this : n => s.arn }
}

output "secret_names" {
  description = "Full names of all secrets (prefix included), sorted."
  value       = sort([for s in aws_secretsmanager_secret.this : s.name])
}

output "generated_secret_names" {
  description = "Full names of the secrets created empty, whose values `invoke secrets-init` writes."
  value       = sort([for n in var.generated_secrets : "${var.name_prefix}${n}"])
}

output "kms_key_arn" {
  description = "KMS key of the secrets; readers need `kms:Decrypt` on it in their IAM policy, and can use it only through Secrets Manager."
  value       = aws_kms_key.this.arn
}
