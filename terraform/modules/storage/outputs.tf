output "bucket_name" {
  description = "Name of the logs bucket (Airflow writes task logs to `s3://<bucket>/airflow`)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the logs bucket."
  value       = aws_s3_bucket.this.arn
}

output "kms_key_arn" {
  description = "KMS key of the bucket's default encryption; writers need `kms:GenerateDataKey` and readers `kms:Decrypt` on it."
  value       = aws_kms_key.this.arn
}
