variable "cluster_name" {
  description = "EKS cluster name (cluster.yaml `cluster.name`); prefixes every role name and scopes every trust policy."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$", var.cluster_name))
    error_message = "cluster_name must be an EKS cluster name: up to 100 letters, digits, hyphens and underscores, starting with a letter or digit."
  }
}

variable "workloads" {
  description = "One entry per cluster.yaml `workload_identities` key: the Kubernetes namespace and service account that get the role `<cluster_name>-<key>`, and the JSON of its inline IAM policy."
  type = map(object({
    namespace       = string
    service_account = string
    policy_json     = string
  }))

  validation {
    condition     = alltrue([for k in keys(var.workloads) : can(regex("^[a-zA-Z0-9+=,.@_-]+$", k)) && length("${var.cluster_name}-${k}") <= 64])
    error_message = "Each key must use only letters, digits and + = , . @ _ -, and `<cluster_name>-<key>` must fit IAM's 64-character role name limit."
  }

  validation {
    condition     = alltrue([for w in values(var.workloads) : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", w.namespace)) && can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", w.service_account))])
    error_message = "namespace must be a DNS label and service_account a DNS subdomain name (lowercase letters, digits, hyphens; dots too for service accounts)."
  }

  validation {
    condition     = alltrue([for w in values(var.workloads) : can(jsondecode(w.policy_json).Statement)])
    error_message = "Each policy_json must be a JSON IAM policy document with a Statement."
  }

  validation {
    # A statement is an object or a list of them; Action and Resource a string or a list. Refuse any
    # Allow statement that grants every action on every resource.
    condition = alltrue([
      for w in values(var.workloads) : !anytrue([
        for s in flatten([try(jsondecode(w.policy_json).Statement, [])]) :
        try(s.Effect, "") == "Allow" && contains(try(flatten([s.Action]), []), "*") && contains(try(flatten([s.Resource]), []), "*")
      ])
    ])
    error_message = "A policy_json holds an Allow statement with Action \"*\" on Resource \"*\" (administrator access); grant the actions and resources the workload needs instead."
  }

  validation {
    condition     = length(distinct([for w in values(var.workloads) : "${w.namespace}/${w.service_account}"])) == length(var.workloads)
    error_message = "Two workloads name the same namespace and service account; EKS allows one Pod Identity association per service account."
  }
}

variable "role_path" {
  description = "IAM path of the roles."
  type        = string
  default     = "/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.role_path))
    error_message = "role_path must start and end with a slash, for example / or /workloads/."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of a managed policy set as the permissions boundary of every role, where the account requires one; null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN."
  }
}

variable "max_session_duration_seconds" {
  description = "Longest session of a role. EKS Pod Identity refreshes credentials itself, so the default hour is enough."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration_seconds >= 3600 && var.max_session_duration_seconds <= 43200
    error_message = "max_session_duration_seconds must be between 3600 and 43200."
  }
}

variable "tags" {
  description = "Tags for every taggable resource of the module."
  type        = map(string)
  default     = {}
}
