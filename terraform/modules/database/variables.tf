variable "identifier" {
  description = "RDS instance identifier; the platform stack passes `<cluster.name>-airflow`. Also prefixes the names of the subnet group, parameter group, security group, monitoring role and KMS alias."
  type        = string

  validation {
    # RDS allows 63 characters; the monitoring role name adds 15 and IAM allows 64.
    condition     = can(regex("^[a-z][a-z0-9-]{0,47}$", var.identifier)) && !endswith(var.identifier, "-") && !strcontains(var.identifier, "--")
    error_message = "identifier must start with a lowercase letter, hold only lowercase letters, digits and single hyphens, not end with a hyphen, and be at most 48 characters."
  }
}

variable "engine_version" {
  description = "PostgreSQL version. A major version alone (\"17\") lets RDS pick the default minor and lets `auto_minor_version_upgrade` move it without Terraform drift; a full `major.minor` pins the minor."
  type        = string
  # renovate: datasource=endoflife-date depName=amazon-rds-postgresql versioning=loose
  default = "17"

  validation {
    condition     = can(regex("^1[6-9](\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 16 or later, as \"<major>\" or \"<major>.<minor>\" (for example \"17\" or \"17.6\")."
  }
}

variable "instance_class" {
  description = "RDS instance class, for example `db.t4g.medium` (cluster.yaml `database.instance_class`)."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9-]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.<family>.<size>, for example db.m7g.large."
  }
}

variable "allocated_storage_gb" {
  description = "Initial gp3 storage in GiB (cluster.yaml `database.allocated_storage_gb`)."
  type        = number

  validation {
    condition     = var.allocated_storage_gb >= 20 && var.allocated_storage_gb <= 65536 && floor(var.allocated_storage_gb) == var.allocated_storage_gb
    error_message = "allocated_storage_gb must be a whole number between 20 (the gp3 minimum for PostgreSQL) and 65536."
  }
}

variable "max_allocated_storage_gb" {
  description = "Upper bound for storage autoscaling in GiB. Null means four times `allocated_storage_gb`, at least 100."
  type        = number
  default     = null

  validation {
    condition     = var.max_allocated_storage_gb == null || try(var.max_allocated_storage_gb > var.allocated_storage_gb && var.max_allocated_storage_gb <= 65536, false)
    error_message = "max_allocated_storage_gb must be greater than allocated_storage_gb (autoscaling needs headroom) and at most 65536."
  }
}

variable "multi_az" {
  description = "Run a synchronous standby in a second Availability Zone (cluster.yaml `database.multi_az`; true in prod)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance. When true a final snapshot is also taken on deletion and automated backups are retained (cluster.yaml `database.deletion_protection`)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups, which is also the point-in-time recovery window (cluster.yaml `database.backup_retention_days`)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number from 1 to 35; 0 would turn off backups and point-in-time recovery."
  }
}

variable "backup_window" {
  description = "Daily UTC window for automated backups, `hh24:mi-hh24:mi`; must not overlap `maintenance_window`."
  type        = string
  default     = "02:00-03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_window))
    error_message = "backup_window must look like 02:00-03:00 (UTC)."
  }
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window, `ddd:hh24:mi-ddd:hh24:mi`, in which minor version upgrades are applied."
  type        = string
  default     = "sun:03:30-sun:04:30"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:03:30-sun:04:30 (UTC, lowercase day names)."
  }
}

variable "apply_immediately" {
  description = "Apply modifications at once instead of in the next maintenance window. Keep false in prod: a class change restarts the instance."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC of the cluster; the database security group is created in it."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group, in at least two Availability Zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must hold at least two subnet ids (subnet-...), as RDS requires subnets in two Availability Zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to reach PostgreSQL on 5432: the cluster's node security groups, where PgBouncer runs."
  type        = list(string)

  validation {
    condition     = length(var.allowed_security_group_ids) >= 1 && alltrue([for s in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "allowed_security_group_ids must hold at least one security group id (sg-...); without one nothing can connect."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Log every statement that runs at least this many milliseconds (`log_min_duration_statement`); -1 turns it off."
  type        = number
  default     = 1000

  validation {
    condition     = var.log_min_duration_statement_ms == -1 || (var.log_min_duration_statement_ms >= 0 && floor(var.log_min_duration_statement_ms) == var.log_min_duration_statement_ms)
    error_message = "log_min_duration_statement_ms must be -1 or a whole number of milliseconds."
  }
}

variable "extra_parameters" {
  description = "More PostgreSQL parameters for the parameter group, name => {value, apply_method}. They override the module's defaults of the same name, except `rds.force_ssl`, which stays 1."
  type = map(object({
    value        = string
    apply_method = optional(string, "immediate")
  }))
  default = {}

  validation {
    condition     = alltrue([for p in values(var.extra_parameters) : contains(["immediate", "pending-reboot"], p.apply_method)])
    error_message = "apply_method must be \"immediate\" or \"pending-reboot\"."
  }
}

variable "cloudwatch_logs_exports" {
  description = "PostgreSQL logs exported to CloudWatch Logs. The module creates their log groups so that retention and encryption are set."
  type        = list(string)
  default     = ["postgresql", "upgrade"]

  validation {
    condition     = alltrue([for l in var.cloudwatch_logs_exports : contains(["postgresql", "upgrade", "iam-db-auth-error"], l)])
    error_message = "cloudwatch_logs_exports may hold only postgresql, upgrade and iam-db-auth-error."
  }
}

variable "cloudwatch_log_retention_days" {
  description = "Retention of the exported PostgreSQL logs in CloudWatch Logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cloudwatch_log_retention_days)
    error_message = "cloudwatch_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, ...)."
  }
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (OS metrics); 0 turns it off and creates no monitoring role."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention: 7 (free tier) or a multiple of 31 up to 731."
  type        = number
  default     = 7

  validation {
    condition     = var.performance_insights_retention_days == 7 || (var.performance_insights_retention_days % 31 == 0 && var.performance_insights_retention_days >= 31 && var.performance_insights_retention_days <= 731)
    error_message = "performance_insights_retention_days must be 7, or a multiple of 31 between 31 and 731."
  }
}

variable "ca_cert_identifier" {
  description = "Certificate authority of the server certificate that PgBouncer's TLS connection sees."
  type        = string
  default     = "rds-ca-rsa2048-g1"
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

variable "permissions_boundary_arn" {
  description = "Permissions boundary of every role this module creates (the platform passes its own; see modules/guardrails)."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN of an account."
  }
}
