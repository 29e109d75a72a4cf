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
