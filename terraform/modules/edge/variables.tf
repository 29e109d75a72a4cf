variable "name" {
  description = "Name of the WAF web ACL, and of its log group (aws-waf-logs-<name>); the platform module passes `<cluster.name>-airflow`, the name the Ingress annotation alb.ingress.kubernetes.io/wafv2-acl-name gives."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,115}$", var.name))
    error_message = "name must be 1-115 letters, digits, hyphens or underscores (a WAF web ACL name, prefixed aws-waf-logs- for its log group)."
  }
}

variable "log_bucket_name" {
  description = "Name of the bucket the ALB writes its access logs to; the platform module passes `<cluster.name>-alb-logs-<aws.account_id>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.log_bucket_name)) && !strcontains(var.log_bucket_name, "..")
    error_message = "log_bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "log_prefix" {
  description = "Key prefix of the access logs, as the Ingress annotation's access_logs.s3.prefix names it. ELB writes under <prefix>/AWSLogs/<account_id>/."
  type        = string
  default     = "airflow"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.log_prefix)) && !strcontains(var.log_prefix, "AWSLogs")
    error_message = "log_prefix must be one path segment without AWSLogs (ELB adds that part itself)."
  }
}

variable "rate_limit" {
  description = "Requests one client address may send in 5 minutes before the web ACL blocks it, until its rate falls again."
  type        = number
  default     = 2000

  validation {
    condition     = var.rate_limit >= 10 && var.rate_limit <= 2000000000 && floor(var.rate_limit) == var.rate_limit
    error_message = "rate_limit must be a whole number between 10 and 2,000,000,000 (WAF's bounds)."
  }
}

variable "access_log_retention_days" {
  description = "Days after which access log objects expire."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 1 && floor(var.access_log_retention_days) == var.access_log_retention_days
    error_message = "access_log_retention_days must be a whole number of days, at least 1."
  }
}

variable "waf_log_retention_days" {
  description = "Days CloudWatch Logs keeps the web ACL's logs; one of the values CloudWatch accepts."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.waf_log_retention_days)
    error_message = "waf_log_retention_days must be one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, ... 365, 400, ... 3653)."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the access log bucket with its objects. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the log group's KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30
    error_message = "kms_key_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for every taggable resource of the module."
  type        = map(string)
  default     = {}
}
