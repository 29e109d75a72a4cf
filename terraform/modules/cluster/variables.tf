variable "name" {
  description = "Cluster name (cluster.yaml `cluster.name`, for example `airflow-dev`). Also the prefix of every IAM role, security group and log group the module creates."
  type        = string

  validation {
    # The longest derived IAM name (`<name>-ebs-csi-controller`) must stay within IAM's 64 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2 to 32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and the system node group (cluster.yaml `cluster.kubernetes_version`, for example \"1.34\")."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version)) && try(tonumber(split(".", var.kubernetes_version)[1]) >= 30, false)
    error_message = "kubernetes_version must be a minor version such as \"1.34\", 1.30 or later (older versions lack the access entry and Pod Identity features this module relies on)."
  }
}

variable "vpc_id" {
  description = "ID of the VPC (network module output `vpc_id`)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID such as vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets, one per Availability Zone (network module output `private_subnet_ids`). The control plane's network interfaces and the system nodes go here."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must hold at least two subnet IDs (EKS needs two Availability Zones)."
  }
}

variable "endpoint_public_access_cidrs" {
  description = "IPv4 ranges allowed to reach the public Kubernetes API endpoint (cluster.yaml `cluster.endpoint_public_access_cidrs`). The private endpoint is always on; nodes and pods use it. Never 0.0.0.0/0 and no prefix shorter than /8."
  type        = list(string)

  validation {
    condition     = length(var.endpoint_public_access_cidrs) >= 1 && length(var.endpoint_public_access_cidrs) <= 40
    error_message = "endpoint_public_access_cidrs must hold 1 to 40 CIDRs (EKS allows at most 40)."
  }

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "endpoint_public_access_cidrs must be IPv4 CIDRs such as 203.0.113.0/24."
  }

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : try(tonumber(split("/", c)[1]) >= 8, false)])
    error_message = "endpoint_public_access_cidrs must not open the public API endpoint to the internet: 0.0.0.0/0 (or any prefix shorter than /8) is refused. List the operators' egress ranges."
  }
}

variable "admin_principal_arns" {
  description = "IAM roles or users that get an EKS access entry with AmazonEKSClusterAdminPolicy at cluster scope. The identity that creates the cluster gets no access of its own."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>); the account root and assumed-role session ARNs are not allowed."
  }

  validation {
    condition     = length(distinct(var.admin_principal_arns)) == length(var.admin_principal_arns)
    error_message = "admin_principal_arns must not repeat an ARN."
  }
}

variable "system_node_group" {
  description = "Size of the `system` managed node group (cluster.yaml `cluster.system_node_group`). It carries Karpenter and the first add-ons; Karpenter launches every other node. `ami_type` must be an Amazon Linux 2023 type; `disk_size_gb` is the encrypted gp3 root volume."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    disk_size_gb   = optional(number, 50)
  })

  validation {
    condition     = length(var.system_node_group.instance_types) >= 1 && alltrue([for t in var.system_node_group.instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "system_node_group.instance_types must list at least one EC2 instance type such as m7i.large."
  }

  validation {
    condition = (
      var.system_node_group.min_size >= 1
      && var.system_node_group.min_size <= var.system_node_group.desired_size
      && var.system_node_group.desired_size <= var.system_node_group.max_size
      && var.system_node_group.max_size <= 100
    )
    error_message = "system_node_group needs 1 <= min_size <= desired_size <= max_size <= 100 (Karpenter itself runs here, so the group never scales to zero)."
  }

  validation {
    condition     = startswith(var.system_node_group.ami_type, "AL2023_")
    error_message = "system_node_group.ami_type must be an Amazon Linux 2023 AMI type (AL2023_x86_64_STANDARD or AL2023_ARM_64_STANDARD)."
  }

  validation {
    condition     = var.system_node_group.disk_size_gb >= 20 && var.system_node_group.disk_size_gb <= 1000
    error_message = "system_node_group.disk_size_gb must be from 20 to 1000 GiB."
  }
}

variable "addon_versions" {
  description = "Overrides of the EKS add-on versions, by add-on name (vpc-cni, coredns, kube-proxy, eks-pod-identity-agent, aws-ebs-csi-driver). Add-ons not listed use the defaults in `local.addon_version_defaults`, which are for Kubernetes 1.34."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.addon_versions) : contains(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"], k)])
    error_message = "addon_versions keys must be vpc-cni, coredns, kube-proxy, eks-pod-identity-agent or aws-ebs-csi-driver."
  }

  validation {
    condition     = alltrue([for v in values(var.addon_versions) : can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+-eksbuild\\.[0-9]+$", v))])
    error_message = "addon_versions values must be EKS add-on versions such as v1.22.4-eksbuild.3."
  }
}

variable "support_type" {
  description = "EKS upgrade policy. STANDARD: the cluster is upgraded automatically when standard support of its version ends. EXTENDED: it stays, at extra cost per cluster hour."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXTENDED"], var.support_type)
    error_message = "support_type must be STANDARD or EXTENDED."
  }
}

variable "log_retention_days" {
  description = "Retention of the control plane log group in days. At least 365."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the cluster KMS key is deleted after `terraform destroy`. Secrets encrypted with it cannot be read once it is gone."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30 && floor(var.kms_key_deletion_window_days) == var.kms_key_deletion_window_days
    error_message = "kms_key_deletion_window_days must be a whole number from 7 to 30."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource. The contract tags (Karpenter discovery tag of the node security group) are applied after these and cannot be overridden."
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
