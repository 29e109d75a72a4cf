variable "cluster_name" {
  description = "Name of the EKS cluster (cluster module output `cluster_name`, equal to cluster.yaml `cluster.name`). Every name here derives from it: node role `<cluster>-karpenter-node`, controller role and queue `<cluster>-karpenter`."
  type        = string

  validation {
    # The longest derived name (`<cluster>-karpenter-capacity-reservation`, an EventBridge rule) must stay within 64 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.cluster_name)) && !strcontains(var.cluster_name, "--")
    error_message = "cluster_name must be 2 to 32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "namespace" {
  description = "Namespace of Karpenter's service account (cluster.yaml `workload_identities.karpenter.namespace`)."
  type        = string
  default     = "kube-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes namespace name (DNS label)."
  }
}

variable "service_account" {
  description = "Name of Karpenter's service account (cluster.yaml `workload_identities.karpenter.service_account`; the chart's `serviceAccount.name`)."
  type        = string
  default     = "karpenter"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.service_account))
    error_message = "service_account must be a Kubernetes object name (DNS subdomain)."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
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
