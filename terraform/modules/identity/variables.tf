variable "name" {
  description = "Name of the Cognito user pool, for example `airflow-dev`."
  type        = string

  validation {
    condition     = can(regex("^[\\w\\s+=,.@-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of letters, digits, spaces and + = , . @ - _."
  }
}

variable "hostname" {
  description = "Public host name of the Airflow API server (cluster.yaml `airflow.hostname`); the callback and logout URLs are built from it."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.hostname))
    error_message = "hostname must be a lowercase DNS name without scheme, port or path, for example airflow.dev.example.com."
  }
}

variable "domain_prefix" {
  description = "Prefix of the Cognito hosted domain, `<prefix>.auth.<region>.amazoncognito.com`; unique per region across all AWS accounts."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix)) && length(regexall("aws|amazon|cognito", var.domain_prefix)) == 0
    error_message = "domain_prefix must be 1-63 lowercase letters, digits and hyphens, not start or end with a hyphen, and not contain the reserved words aws, amazon or cognito."
  }
}

variable "secret_name" {
  description = "Secrets Manager secret that receives the app client's credentials; the platform stack passes `<cluster.name>/airflow/cognito`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.secret_name))
    error_message = "secret_name may hold letters, digits and / _ + = . @ -."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the secret (the secrets module's key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias or a key id."
  }
}

variable "deletion_protection" {
  description = "Refuse deletion of the user pool (and of its users)."
  type        = bool
  default     = true
}

variable "threat_protection_mode" {
  description = "Cognito threat protection (formerly advanced security): ENFORCED blocks risky sign-ins, AUDIT only records them, OFF disables it. Anything but OFF needs the Plus feature plan, which the module then selects (billed per monthly active user)."
  type        = string
  default     = "ENFORCED"

  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.threat_protection_mode)
    error_message = "threat_protection_mode must be OFF, AUDIT or ENFORCED."
  }
}

variable "mfa_configuration" {
  description = "MFA for sign-in: OPTIONAL lets each user enrol an authenticator app (software token), ON requires one."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OPTIONAL", "ON"], var.mfa_configuration)
    error_message = "mfa_configuration must be OPTIONAL or ON."
  }
}

variable "password_minimum_length" {
  description = "Minimum password length; lowercase, uppercase, digits and symbols are always required."
  type        = number
  default     = 14

  validation {
    condition     = var.password_minimum_length >= 12 && var.password_minimum_length <= 99
    error_message = "password_minimum_length must be between 12 and 99."
  }
}

variable "temporary_password_validity_days" {
  description = "Days an administrator-issued temporary password stays valid."
  type        = number
  default     = 3

  validation {
    condition     = var.temporary_password_validity_days >= 1 && var.temporary_password_validity_days <= 7
    error_message = "temporary_password_validity_days must be between 1 and 7."
  }
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access tokens, in minutes."
  type        = number
  default     = 60

  validation {
    condition     = var.access_token_validity_minutes >= 5 && var.access_token_validity_minutes <= 1440
    error_message = "access_token_validity_minutes must be between 5 and 1440."
  }
}

variable "id_token_validity_minutes" {
  description = "Lifetime of ID tokens, in minutes."
  type        = number
  default     = 60

  validation {
    condition     = var.id_token_validity_minutes >= 5 && var.id_token_validity_minutes <= 1440
    error_message = "id_token_validity_minutes must be between 5 and 1440."
  }
}

variable "refresh_token_validity_days" {
  description = "Lifetime of refresh tokens, in days."
  type        = number
  default     = 1

  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650
    error_message = "refresh_token_validity_days must be between 1 and 3650."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored: 0 deletes at once (throwaway environments only), otherwise 7 to 30."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for every taggable resource of the module."
  type        = map(string)
  default     = {}
}
