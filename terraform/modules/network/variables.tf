variable "name" {
  description = "Cluster name (cluster.yaml `cluster.name`, for example `airflow-dev`). The VPC is tagged `Name = <name>`, the private subnets `karpenter.sh/discovery = <name>`, and every other resource name starts with it."
  type        = string

  validation {
    # Also the EKS cluster name; the longest derived IAM name (`<name>-vpc-flow-logs`) must stay within IAM's 64 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2 to 32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (cluster.yaml `network.vpc_cidr`). A /16 to /20: private subnets get 1/8 of it each (a /19 from a /16), public subnets 1/256 (a /24 from a /16)."
  type        = string

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0))
      && can(regex("^[0-9.]+/[0-9]+$", var.vpc_cidr))
      && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
      && try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false)
    )
    error_message = "vpc_cidr must be an IPv4 network address with a prefix from /16 to /20 (for example 10.10.0.0/16); host bits must be zero."
  }
}

variable "availability_zones" {
  description = "How many Availability Zones to span (cluster.yaml `network.availability_zones`). Zones are taken in order from those that need no opt-in."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zones >= 2 && var.availability_zones <= 6 && floor(var.availability_zones) == var.availability_zones
    error_message = "availability_zones must be a whole number from 2 (EKS needs subnets in two zones) to 6 (the subnet layout has room for six)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC (cheaper, but egress stops if its zone fails) instead of one per zone (cluster.yaml `network.single_nat_gateway`)."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints in the private subnets (the part after `com.amazonaws.<region>.`). The S3 gateway endpoint is always created."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "sts", "secretsmanager", "eks-auth", "ec2", "sqs"]

  validation {
    condition     = alltrue([for s in var.interface_endpoints : can(regex("^[a-z0-9][a-z0-9.-]*[a-z0-9]$", s))]) && length(distinct(var.interface_endpoints)) == length(var.interface_endpoints)
    error_message = "interface_endpoints must be distinct service suffixes such as \"ecr.api\" or \"sts\" (lowercase letters, digits, dots and hyphens)."
  }

  validation {
    condition     = !contains(var.interface_endpoints, "s3")
    error_message = "s3 is served by the gateway endpoint this module always creates; do not list it as an interface endpoint."
  }
}

variable "flow_log_traffic_type" {
  description = "Which traffic the VPC flow log records: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group in days. At least 365 (a year of network evidence)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a CloudWatch Logs retention value of at least 365: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the flow log KMS key is deleted after `terraform destroy`."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30 && floor(var.kms_key_deletion_window_days) == var.kms_key_deletion_window_days
    error_message = "kms_key_deletion_window_days must be a whole number from 7 to 30."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource. The contract tags (Name, subnet discovery tags) are applied after these and cannot be overridden."
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
