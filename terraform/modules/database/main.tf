data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  port            = 5432
  db_name         = "airflow"
  master_username = "airflow_admin"

  engine_major     = split(".", var.engine_version)[0]
  parameter_family = "postgres${local.engine_major}"

  max_allocated_storage = coalesce(var.max_allocated_storage_gb, max(var.allocated_storage_gb * 4, 100))

  # With deletion protection on, a deletion (after protection is lifted) still leaves a snapshot
  # and the automated backups behind. The name is fixed, so a second deletion of an instance with
  # the same identifier needs the old snapshot renamed or removed first.
  final_snapshot_identifier = "${var.identifier}-final"

  log_group_prefix = "/aws/rds/instance/${var.identifier}"

  parameters = merge(
    {
      "log_min_duration_statement" = { value = tostring(var.log_min_duration_statement_ms), apply_method = "immediate" }
      "log_connections"            = { value = "1", apply_method = "immediate" }
      "log_disconnections"         = { value = "1", apply_method = "immediate" }
      "log_lock_waits"             = { value = "1", apply_method = "immediate" }
      "log_statement"              = { value = "ddl", apply_method = "immediate" }
      "log_temp_files"             = { value = "10240", apply_method = "immediate" }
      "password_encryption"        = { value = "scram-sha-256", apply_method = "immediate" }
    },
    var.extra_parameters,
    {
      # PgBouncer connects with server_tls_sslmode = require; the server refuses anything else.
      "rds.force_ssl" = { value = "1", apply_method = "immediate" }
    },
  )

  # One customer managed key for storage, Performance Insights, the RDS-managed master secret and
  # the exported logs. The first statement is the default key policy (IAM policies decide who may
  # use the key); the second lets CloudWatch Logs use it for this instance's log groups only.
  kms_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "AllowCloudWatchLogsForThisInstance"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt*",
          "kms:Decrypt*",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_prefix}/*"
          }
        }
      },
    ]
  }

  monitoring_enabled = var.monitoring_interval > 0

  monitoring_trust_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AllowRdsEnhancedMonitoring"
        Effect    = "Allow"
        Principal = { Service = "monitoring.rds.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  }
}

################################################################################
# KMS
################################################################################

resource "aws_kms_key" "this" {
  description             = "RDS ${var.identifier}: storage, Performance Insights, master user secret and logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = jsonencode(local.kms_key_policy)

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.identifier}-rds"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Network
################################################################################

resource "aws_db_subnet_group" "this" {
  name        = var.identifier
  description = "Private subnets of ${var.identifier}"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "this" {
  # A prefix, not a fixed name: create_before_destroy needs the replacement to coexist with the old group.
  name_prefix = "${var.identifier}-db-"
  description = "PostgreSQL ${var.identifier}: 5432 from the cluster nodes only"
  vpc_id      = var.vpc_id

  # No egress block: Terraform removes the default allow-all egress rule, and the database opens
  # no connections of its own (replies to inbound connections are allowed by state tracking).

  tags = merge(var.tags, { Name = "${var.identifier}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  # Keyed by position: the ids are often unknown until the cluster exists, and for_each keys must
  # be known at plan time.
  for_each = { for i, id in var.allowed_security_group_ids : tostring(i) => id }

  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from cluster node security group ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  referenced_security_group_id = each.value

  tags = var.tags
}

################################################################################
# Parameters
################################################################################

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.identifier}-"
  family      = local.parameter_family
  description = "PostgreSQL ${local.engine_major} parameters of ${var.identifier}"

  dynamic "parameter" {
    for_each = local.parameters

    content {
      name         = parameter.key
      value        = parameter.value.value
      apply_method = parameter.value.apply_method
    }
  }

  tags = var.tags

  # A new family (major upgrade) needs a new group while the old one is still attached.
  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Logs and monitoring
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days); these are operational database logs, the audit trail of changes to the instance is CloudTrail.
  for_each = toset(var.cloudwatch_logs_exports)

  name              = "${local.log_group_prefix}/${each.value}"
  retention_in_days = var.cloudwatch_log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = var.tags
}

resource "aws_iam_role" "monitoring" {
  count = local.monitoring_enabled ? 1 : 0

  name                 = "${var.identifier}-rds-monitoring"
  description          = "Enhanced Monitoring of RDS ${var.identifier}"
  assume_role_policy   = jsonencode(local.monitoring_trust_policy)
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = local.monitoring_enabled ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

################################################################################
# Instance
################################################################################

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is chosen per environment from cluster.yaml (true in prod); the tests prove it follows var.multi_az.
  identifier     = var.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  port           = local.port

  db_name  = local.db_name
  username = local.master_username

  # RDS generates the password and keeps it in Secrets Manager (rotated every 7 days by default),
  # so it never passes through Terraform state.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.this.arn

  iam_database_authentication_enabled = true

  storage_type          = "gp3"
  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = local.max_allocated_storage
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  network_type           = "IPV4"
  ca_cert_identifier     = var.ca_cert_identifier

  parameter_group_name = aws_db_parameter_group.this.name

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  maintenance_window          = var.maintenance_window
  apply_immediately           = var.apply_immediately

  backup_retention_period  = var.backup_retention_days
  backup_window            = var.backup_window
  copy_tags_to_snapshot    = true
  delete_automated_backups = !var.deletion_protection

  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = !var.deletion_protection
  final_snapshot_identifier = local.final_snapshot_identifier

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = var.performance_insights_retention_days

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = local.monitoring_enabled ? aws_iam_role.monitoring[0].arn : null

  enabled_cloudwatch_logs_exports = var.cloudwatch_logs_exports

  tags = var.tags

  # The log groups must exist before RDS starts exporting, or RDS creates them without retention
  # or encryption.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy_attachment.monitoring,
  ]
}
