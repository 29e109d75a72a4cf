output "repository_urls" {
  description = "Repository URL (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`) by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "repository_arns" {
  description = "Repository ARN by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}

output "registry_id" {
  description = "Account id of the registry that holds the repositories."
  value       = local.account_id
}

output "kms_key_arn" {
  description = "KMS key that encrypts the repositories."
  value       = aws_kms_key.this.arn
}

output "pull_through_cache_prefixes" {
  description = "Upstream registry host by the repository prefix it is cached under: pull `<registry>/<prefix>/<path upstream>`."
  value       = { for prefix, rule in aws_ecr_pull_through_cache_rule.this : prefix => rule.upstream_registry_url }
}

output "upstream_credential_secret_arns" {
  description = "Secrets Manager secrets (created empty) that hold the upstream logins, by prefix."
  value       = { for prefix, secret in aws_secretsmanager_secret.upstream_credentials : prefix => secret.arn }
}
