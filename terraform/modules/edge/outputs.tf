output "web_acl_name" {
  description = "Name of the WAF web ACL (the Ingress annotation alb.ingress.kubernetes.io/wafv2-acl-name)."
  value       = aws_wafv2_web_acl.this.name
}

output "web_acl_arn" {
  description = "ARN of the WAF web ACL."
  value       = aws_wafv2_web_acl.this.arn
}

output "log_bucket_name" {
  description = "Name of the access log bucket (the annotation alb.ingress.kubernetes.io/load-balancer-attributes, access_logs.s3.bucket)."
  value       = aws_s3_bucket.access_logs.id
}

output "log_bucket_arn" {
  description = "ARN of the access log bucket."
  value       = aws_s3_bucket.access_logs.arn
}

output "waf_log_group_name" {
  description = "CloudWatch log group of the web ACL's logs."
  value       = aws_cloudwatch_log_group.waf.name
}
