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

variable "pull_through_cache_rules" {
  description = "Upstream registries cached in this registry, by repository prefix: an image is pulled as `<registry>/<prefix>/<path upstream>`. `credentials = true` marks upstreams that need a login (Docker Hub, GitHub's registry); their secret `ecr-pullthroughcache/<prefix>` is created empty and filled outside Terraform."
  type = map(object({
    upstream_registry_url = string
    credentials           = optional(bool, false)
  }))
  default = {
    docker-hub      = { upstream_registry_url = "registry-1.docker.io", credentials = true }
    ghcr            = { upstream_registry_url = "ghcr.io", credentials = true }
    quay            = { upstream_registry_url = "quay.io" }
    registry-k8s-io = { upstream_registry_url = "registry.k8s.io" }
    ecr-public      = { upstream_registry_url = "public.ecr.aws" }
  }

  validation {
    condition     = alltrue([for prefix in keys(var.pull_through_cache_rules) : can(regex("^[a-z0-9]+([._-][a-z0-9]+)*$", prefix)) && length(prefix) >= 2 && length(prefix) <= 30])
    error_message = "pull_through_cache_rules keys are repository prefixes: 2-30 lowercase letters, digits and single . _ - separators."
  }

  validation {
    condition     = alltrue([for rule in values(var.pull_through_cache_rules) : !can(regex("^[a-z]+://", rule.upstream_registry_url))])
    error_message = "upstream_registry_url is a host name such as quay.io, without a scheme."
  }

  validation {
    condition = alltrue([
      for rule in values(var.pull_through_cache_rules) :
      rule.credentials if contains(["registry-1.docker.io", "ghcr.io"], rule.upstream_registry_url)
    ])
    error_message = "ECR pulls through from Docker Hub (registry-1.docker.io) and ghcr.io only with a login: set credentials = true for them."
  }
}

variable "iam_name_prefix" {
  description = "Prefix of the IAM roles the module creates."
  type        = string
  default     = "airflow-registry"

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@_-]{1,32}$", var.iam_name_prefix))
    error_message = "iam_name_prefix must be 1-32 characters valid in an IAM role name."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the IAM roles the module creates (null: none)."
  type        = string
  default     = null
}
