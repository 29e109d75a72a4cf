variable "repository" {
  description = "The GitHub repository whose workflows may assume the roles, as `owner/name`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$", var.repository))
    error_message = "repository must be `owner/name`, for example example-org/airflow-eks-platform; no wildcard."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider. An account has at most one per URL: set false where another stack already made it."
  type        = bool
  default     = true
}

variable "roles" {
  description = <<-EOT
    Roles by short name. `subjects` are the token subjects allowed after `repo:<repository>:`, such as
    `ref:refs/heads/main`, `ref:refs/tags/v*`, `environment:prod` or `pull_request`. A role gets
    `managed_policy_arns` and, if set, one inline policy (`inline_policy_json`).
  EOT
  type = map(object({
    subjects             = list(string)
    managed_policy_arns  = optional(list(string), [])
    inline_policy_json   = optional(string)
    max_session_duration = optional(number, 3600)
  }))

  validation {
    condition = alltrue([
      for r in values(var.roles) : length(r.subjects) > 0 && alltrue([for s in r.subjects : can(regex("^(ref:refs/(heads|tags)/[^*]+\\*?|environment:[A-Za-z0-9_.-]+|pull_request)$", s))])
    ])
    error_message = "Each role needs at least one subject, each `ref:refs/heads/<branch>`, `ref:refs/tags/<prefix>*`, `environment:<name>` or `pull_request`; a bare `*` would let any workflow of the repository in."
  }

  validation {
    condition     = alltrue([for r in values(var.roles) : r.max_session_duration >= 900 && r.max_session_duration <= 43200])
    error_message = "max_session_duration must be 900 to 43200 seconds."
  }
}

variable "name_prefix" {
  description = "Prefix of the role names: `<name_prefix>-<role>`."
  type        = string
  default     = "github"
}

variable "tags" {
  description = "Tags for every taggable resource."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of every role this module creates (the platform passes its own; see modules/guardrails)."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN of an account."
  }
}
