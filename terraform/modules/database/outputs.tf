output "identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "instance_arn" {
  description = "ARN of the instance; the tag `aws:rds:primaryDBInstanceArn` on the master secret carries it, which is how External Secrets finds that secret."
  value       = aws_db_instance.this.arn
}

output "address" {
  description = "DNS name of the instance (no port); goes into the `airflow/metadata-db` secret as `host`."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = local.port
}

output "db_name" {
  description = "Name of the database Airflow uses."
  value       = local.db_name
}

output "master_username" {
  description = "Master user name; the password is only in the RDS-managed secret."
  value       = local.master_username
}

output "master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret RDS manages for the master user (JSON keys `username`, `password`)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "security_group_id" {
  description = "Security group of the instance (5432 from the allowed security groups only)."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key that encrypts storage, Performance Insights, the master secret and the exported logs; readers of the master secret need `kms:Decrypt` on it."
  value       = aws_kms_key.this.arn
}

output "multi_az" {
  description = "Whether the instance runs a standby in a second zone."
  value       = aws_db_instance.this.multi_az
}

output "deletion_protection" {
  description = "Whether the instance refuses deletion."
  value       = aws_db_instance.this.deletion_protection
}
