variable "repository_names" {
  description = "ECR repositories to create (cluster.yaml `airflow.image_repository`, for example `airflow`)."
  type        = set(string)

  validation {
    condition     = length(var.repository_names) >= 1 && alltrue([for n in var.repository_names : length(n) >= 2 && length(n) <= 256 && can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", n))])
    error_message = "repository_names must hold at least one name of 2-256 lowercase letters, digits, and single . _ - or / separators (the ECR naming rule)."
  }
}

variable "pull_account_ids" {
  description = "AWS accounts (the environment accounts) whose IAM principals may pull images. Their own IAM policies must also allow the pull and `ecr:GetAuthorizationToken`. Empty means same-account pulls only, governed by IAM."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.pull_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "pull_account_ids must be 12-digit AWS account ids; a wildcard or an ARN is not accepted."
  }
}

variable "keep_tagged_images" {
  description = "How many tagged images each repository keeps; older ones expire. Must cover every image still pinned by an environment (prod lags dev by the promotions in flight)."
  type        = number
  default     = 100

  validation {
    condition     = var.keep_tagged_images >= 10 && var.keep_tagged_images <= 10000 && floor(var.keep_tagged_images) == var.keep_tagged_images
    error_message = "keep_tagged_images must be a whole number from 10 to 10000; fewer could expire an image that prod still runs."
  }
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images (left behind by failed or superseded pushes) expire."
  type        = number
  default     = 14

  validation {
    condition     = var.untagged_image_expiry_days >= 1 && floor(var.untagged_image_expiry_days) == var.untagged_image_expiry_days
    error_message = "untagged_image_expiry_days must be a whole number of days, at least 1."
  }
}

variable "force_delete" {
  description = "Let `terraform destroy` delete repositories that still hold images. Keep false for the shared registry."
  type        = bool
  default     = false
}

variable "kms_key_alias" {
  description = "Alias of the module's KMS key."
  type        = string
  default     = "alias/ecr"

  validation {
    condition     = can(regex("^alias/[a-zA-Z0-9/_-]+$", var.kms_key_alias)) && !startswith(var.kms_key_alias, "alias/aws/")
    error_message = "kms_key_alias must start with alias/, use only letters, digits, / _ -, and not start with alias/aws/."
  }
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
