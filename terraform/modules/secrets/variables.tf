variable "name_prefix" {
  description = "Prefix of every secret name; the platform stack passes `<cluster.name>/`, the prefix the ClusterSecretStore `aws-secrets-manager` adds."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_+=.@-][A-Za-z0-9/_+=.@-]{0,255}/$", var.name_prefix))
    error_message = "name_prefix must end with a slash, not start with one, and hold only letters, digits and / _ + = . @ - (for example \"airflow-dev/\")."
  }
}

variable "generated_secrets" {
  description = "Names (after the prefix) of secrets created empty, without a value; `invoke secrets-init` writes their values once, so they never pass through Terraform state. For example `airflow/fernet-key`."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.generated_secrets : can(regex("^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*$", n))])
    error_message = "Each name must be path segments of letters, digits and _ + = . @ - separated by single slashes."
  }
}

variable "plain_values" {
  description = "Secrets whose value Terraform writes, name (after the prefix) => object, stored as JSON. Only for values that are not secret, for example `airflow/metadata-db` = {host, port, dbname}: they end up in Terraform state."
  type        = any
  default     = {}

  validation {
    condition     = can(keys(var.plain_values)) && alltrue([for n, v in var.plain_values : can(keys(v)) && can(jsonencode(v)) && can(regex("^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*$", n))])
    error_message = "plain_values must be a map of name => object (a JSON object); names follow the same rules as generated_secrets."
  }

  validation {
    condition     = !can(keys(var.plain_values)) || length(setintersection(toset(keys(var.plain_values)), var.generated_secrets)) == 0
    error_message = "A name cannot be both generated (written by invoke) and a plain value (written by Terraform)."
  }
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored: 0 deletes at once (only for throwaway environments, never prod), otherwise 7 to 30."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "recovery_window_days must be 0 or between 7 and 30."
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
