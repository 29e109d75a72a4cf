variable "cluster" {
  description = "The decoded clusters/<env>/cluster.yaml. The stack passes yamldecode(file(...)), so Terraform and invoke read one file."
  type = object({
    environment = string
    promotion = object({
      order                = number
      pin_images_by_digest = bool
    })
    aws = object({
      account_id = string
      region     = string
    })
    cluster = object({
      name                         = string
      kubernetes_version           = string
      endpoint_public_access_cidrs = list(string)
      system_node_group = object({
        instance_types = list(string)
        min_size       = number
        max_size       = number
        desired_size   = number
      })
    })
    network = object({
      vpc_cidr           = string
      availability_zones = number
      single_nat_gateway = bool
    })
    database = object({
      instance_class        = string
      allocated_storage_gb  = number
      multi_az              = bool
      deletion_protection   = bool
      backup_retention_days = number
    })
    registry = object({
      account_id         = string
      region             = string
      pull_through_cache = optional(map(string), {})
    })
    dns = object({
      zone = string
    })
    airflow = object({
      hostname         = string
      image_repository = string
    })
    gitops = object({
      repo_url = string
      revision = string
    })
    argocd = optional(object({ server = optional(string) }), {})
    addons = list(string)
    workload_identities = map(object({
      namespace       = string
      service_account = string
      policy          = string
    }))
  })

  validation {
    condition = alltrue([for w in values(var.cluster.workload_identities) : contains(
      ["secrets-read", "karpenter-controller", "load-balancer-controller", "route53-records", "airflow-logs-and-secrets"], w.policy
    )])
    error_message = "Every workload_identities entry in cluster.yaml must name a policy this module defines: secrets-read, karpenter-controller, load-balancer-controller, route53-records, airflow-logs-and-secrets."
  }
}

variable "admin_principal_arns" {
  description = "IAM roles that get cluster-admin access entries (the platform team's roles)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource, on top of the environment and cluster tags this module adds."
  type        = map(string)
  default     = {}
}
