variable "bucket_name" {
  description = "Name of the logs bucket; the platform stack passes `<cluster.name>-logs-<aws.account_id>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..") && !can(regex("^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$", var.bucket_name)) && !startswith(var.bucket_name, "xn--") && !endswith(var.bucket_name, "-s3alias")
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, not an IP address."
  }
}

variable "log_retention_days" {
  description = "Days after which log objects expire (Airflow task logs under `airflow/`)."
  type        = number
  default     = 365

  validation {
    condition     = var.log_retention_days >= 1 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "log_retention_days must be a whole number of days, at least 1."
  }
}

variable "transition_to_ia_days" {
  description = "Days after which log objects move to STANDARD_IA. Null keeps them in STANDARD until they expire."
  type        = number
  default     = 30

  validation {
    # S3 refuses a transition to STANDARD_IA before 30 days, and a transition that is not before expiry is pointless.
    condition     = var.transition_to_ia_days == null || try(var.transition_to_ia_days >= 30 && var.transition_to_ia_days < var.log_retention_days, false)
    error_message = "transition_to_ia_days must be at least 30 (the S3 minimum for STANDARD_IA) and less than log_retention_days, or null."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted versions are removed for good."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which unfinished multipart uploads are aborted (their parts are billed until then)."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "access_log_target" {
  description = "Where S3 server access logs of this bucket go: an existing bucket in the same account and region, and a key prefix. Null means no server access logging (see README)."
  type = object({
    bucket = string
    prefix = optional(string, "")
  })
  default = null

  validation {
    condition     = var.access_log_target == null || try(var.access_log_target.bucket != var.bucket_name, true)
    error_message = "access_log_target.bucket must be another bucket; logging a bucket into itself loops."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with its objects. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the module's KMS key is deleted after a destroy."
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
