# Unit tests: plan only, against a mocked AWS provider. Computed values that an assertion compares
# (the KMS key ARN, the monitoring role ARN, the master secret) get fixed values during the plan.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "333333333333" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_resource "aws_kms_key" {
    override_during = plan
    defaults = {
      arn    = "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-000000000001"
      key_id = "00000000-0000-0000-0000-000000000001"
    }
  }
  mock_resource "aws_iam_role" {
    override_during = plan
    defaults        = { arn = "arn:aws:iam::333333333333:role/airflow-prod-airflow-rds-monitoring" }
  }
  mock_resource "aws_db_instance" {
    override_during = plan
    defaults = {
      arn = "arn:aws:rds:eu-west-1:333333333333:db:airflow-prod-airflow"
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds!db-0000-abcdef"
        kms_key_id    = "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-000000000001"
        secret_status = "active"
      }]
    }
  }
}

variables {
  identifier                 = "airflow-prod-airflow"
  instance_class             = "db.m7g.xlarge"
  allocated_storage_gb       = 100
  vpc_id                     = "vpc-0123456789abcdef0"
  subnet_ids                 = ["subnet-0a0a0a0a", "subnet-0b0b0b0b", "subnet-0c0c0c0c"]
  allowed_security_group_ids = ["sg-0d0d0d0d"]
}

run "prod_like" {
  command = plan

  variables {
    multi_az              = true
    deletion_protection   = true
    backup_retention_days = 30
  }

  assert {
    condition     = aws_db_instance.this.identifier == "airflow-prod-airflow" && output.identifier == "airflow-prod-airflow"
    error_message = "The instance must be named after var.identifier (<cluster>-airflow)."
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_instance.this.engine_version == "17" && aws_db_parameter_group.this.family == "postgres17"
    error_message = "Engine must be PostgreSQL 17 by default, with a parameter group of the matching family."
  }

  assert {
    condition     = aws_db_instance.this.db_name == "airflow" && aws_db_instance.this.username == "airflow_admin" && output.db_name == "airflow" && output.master_username == "airflow_admin" && output.port == 5432
    error_message = "Database airflow, master user airflow_admin and port 5432 are part of the contract."
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true && aws_db_instance.this.master_user_secret_kms_key_id == aws_kms_key.this.arn
    error_message = "RDS must manage the master password, in a secret encrypted with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted == true && aws_db_instance.this.kms_key_id == aws_kms_key.this.arn && aws_kms_key.this.enable_key_rotation == true
    error_message = "Storage must be encrypted with the module's KMS key, which rotates."
  }

  assert {
    condition     = aws_db_instance.this.performance_insights_enabled == true && aws_db_instance.this.performance_insights_kms_key_id == aws_kms_key.this.arn
    error_message = "Performance Insights must be on and encrypted with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false
    error_message = "The database must never be publicly accessible."
  }

  assert {
    condition     = aws_db_instance.this.multi_az == true && aws_db_instance.this.deletion_protection == true
    error_message = "A prod-like run must be Multi-AZ with deletion protection."
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == false && aws_db_instance.this.final_snapshot_identifier == "airflow-prod-airflow-final" && aws_db_instance.this.delete_automated_backups == false
    error_message = "With deletion protection a final snapshot is taken and automated backups are kept."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 30 && aws_db_instance.this.copy_tags_to_snapshot == true
    error_message = "Backups (and so point-in-time recovery) must follow backup_retention_days; snapshots carry the tags."
  }

  assert {
    condition     = aws_db_instance.this.storage_type == "gp3" && aws_db_instance.this.allocated_storage == 100 && aws_db_instance.this.max_allocated_storage == 400
    error_message = "Storage must be gp3 with autoscaling headroom (four times the allocation by default)."
  }

  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled == true && aws_db_instance.this.auto_minor_version_upgrade == true && aws_db_instance.this.allow_major_version_upgrade == false
    error_message = "IAM authentication and automatic minor upgrades must be on; major upgrades only on purpose."
  }

  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"]) && anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "log_min_duration_statement" && p.value == "1000"])
    error_message = "The parameter group must force TLS and log slow statements."
  }

  assert {
    condition     = aws_db_instance.this.monitoring_interval == 60 && aws_db_instance.this.monitoring_role_arn == aws_iam_role.monitoring[0].arn
    error_message = "Enhanced Monitoring must be on, through the module's monitoring role."
  }

  assert {
    condition     = jsondecode(aws_iam_role.monitoring[0].assume_role_policy).Statement[0].Principal.Service == "monitoring.rds.amazonaws.com" && jsondecode(aws_iam_role.monitoring[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "333333333333"
    error_message = "Only RDS monitoring in this account may assume the monitoring role."
  }

  assert {
    condition     = output.master_user_secret_arn == "arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds!db-0000-abcdef" && output.kms_key_arn == aws_kms_key.this.arn
    error_message = "The outputs must expose the RDS-managed secret and the KMS key."
  }
}

run "dev_like" {
  command = plan

  variables {
    identifier            = "airflow-dev-airflow"
    instance_class        = "db.t4g.medium"
    allocated_storage_gb  = 20
    multi_az              = false
    deletion_protection   = false
    backup_retention_days = 3
  }

  assert {
    condition     = aws_db_instance.this.multi_az == false && aws_db_instance.this.deletion_protection == false
    error_message = "A dev-like run must be single-AZ without deletion protection, exactly as asked."
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == true && aws_db_instance.this.delete_automated_backups == true
    error_message = "Without deletion protection the instance is disposable: no final snapshot, backups go with it."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 3 && aws_db_instance.this.max_allocated_storage == 100
    error_message = "Backups must still be kept in dev; autoscaling is at least 100 GiB."
  }

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false && aws_db_instance.this.storage_encrypted == true
    error_message = "Dev is private and encrypted too."
  }
}

run "network_is_closed" {
  command = plan

  variables {
    allowed_security_group_ids = ["sg-0d0d0d0d", "sg-0e0e0e0e"]
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.postgres) == 2 && alltrue([for r in aws_vpc_security_group_ingress_rule.postgres : r.from_port == 5432 && r.to_port == 5432 && r.ip_protocol == "tcp" && r.cidr_ipv4 == null && r.cidr_ipv6 == null])
    error_message = "Ingress must be 5432/tcp and never from a CIDR range."
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.postgres : r.referenced_security_group_id]) == toset(["sg-0d0d0d0d", "sg-0e0e0e0e"])
    error_message = "Ingress must come exactly from the allowed (node) security groups."
  }

  assert {
    condition     = aws_db_subnet_group.this.name == "airflow-prod-airflow" && length(aws_db_subnet_group.this.subnet_ids) == 3
    error_message = "The subnet group must use the given private subnets."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : s.Principal != "*" && try(s.Principal.AWS, "") != "*"])
    error_message = "The KMS key policy must not grant a wildcard principal."
  }

  assert {
    condition     = [for s in jsondecode(aws_kms_key.this.policy).Statement : s.Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"] if try(s.Principal.Service, "") == "logs.eu-west-1.amazonaws.com"] == ["arn:aws:logs:eu-west-1:333333333333:log-group:/aws/rds/instance/airflow-prod-airflow/*"]
    error_message = "CloudWatch Logs may use the key only for this instance's log groups."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.kms_key_id == aws_kms_key.this.arn && g.retention_in_days == 30]) && length(aws_cloudwatch_log_group.this) == 2
    error_message = "Exported logs go to encrypted log groups with a retention."
  }
}

run "engine_16_and_no_monitoring" {
  command = plan

  variables {
    engine_version      = "16.10"
    monitoring_interval = 0
    extra_parameters = {
      "rds.force_ssl"        = { value = "0" }
      "idle_session_timeout" = { value = "3600000" }
    }
  }

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres16" && aws_db_instance.this.engine_version == "16.10"
    error_message = "The parameter group family must follow the engine major version."
  }

  assert {
    condition     = length(aws_iam_role.monitoring) == 0 && length(aws_iam_role_policy_attachment.monitoring) == 0 && aws_db_instance.this.monitoring_interval == 0
    error_message = "With monitoring_interval 0 no monitoring role is created."
  }

  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"]) && anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "idle_session_timeout"])
    error_message = "Extra parameters are added, but rds.force_ssl cannot be turned off."
  }
}

run "rejects_no_backups" {
  command = plan

  variables {
    backup_retention_days = 0
  }

  expect_failures = [var.backup_retention_days]
}

run "rejects_open_or_thin_network" {
  command = plan

  variables {
    subnet_ids                 = ["subnet-0a0a0a0a"]
    allowed_security_group_ids = []
  }

  expect_failures = [var.subnet_ids, var.allowed_security_group_ids]
}

run "rejects_bad_names_and_sizes" {
  command = plan

  variables {
    identifier               = "Airflow_Prod"
    engine_version           = "15.4"
    max_allocated_storage_gb = 50
  }

  expect_failures = [var.identifier, var.engine_version, var.max_allocated_storage_gb]
}

run "every_role_carries_the_boundary_and_the_prefix" {
  command = plan

  variables {
    permissions_boundary_arn = "arn:aws:iam::111111111111:policy/airflow-prod-permissions-boundary"
  }

  assert {
    condition     = alltrue([for r in [aws_iam_role.monitoring[0]] : r.permissions_boundary == "arn:aws:iam::111111111111:policy/airflow-prod-permissions-boundary" && startswith(r.name, "airflow-prod-")])
    error_message = "Every role of the module must carry the platform's permissions boundary and its name prefix airflow-prod-."
  }
}
