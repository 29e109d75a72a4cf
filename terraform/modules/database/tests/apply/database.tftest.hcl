# Integration test: applies the module against a local AWS emulator (a moto server started with
# MOTO_ACCOUNT_ID=111111111111, dev's account) and reads it back. Run in the module folder:
#   terraform init -backend=false -test-directory=tests/apply
#   terraform test -test-directory=tests/apply -var='aws_endpoint="http://127.0.0.1:<port>"'
# The value is quoted because aws_endpoint is not a module variable. A plain `terraform test`
# does not look in tests/apply; tests/terraform/test_module_apply.py runs this file.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    ec2            = var.aws_endpoint
    iam            = var.aws_endpoint
    kms            = var.aws_endpoint
    logs           = var.aws_endpoint
    rds            = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
  }
}

# dev's database block of cluster.yaml, as the platform module passes it.
variables {
  identifier                   = "airflow-dev-airflow"
  instance_class               = "db.t4g.medium"
  allocated_storage_gb         = 20
  multi_az                     = false
  deletion_protection          = false
  backup_retention_days        = 3
  apply_immediately            = true
  kms_key_deletion_window_days = 7
  tags                         = { Environment = "dev" }
  # The provider sets the CA with a ModifyDBInstance after the create when the new instance has
  # another one (and waits a minute for it): AWS starts instances with the region's default, the
  # emulator with rds-ca-default. The test asks for the emulator's default, as one asks AWS for its own.
  ca_cert_identifier = "rds-ca-default"
}

# The VPC and private subnets come from the network module, as in the platform; two zones (the
# fewest RDS accepts) and no interface endpoints keep this setup short.
run "network" {
  command = apply

  module {
    source = "../network"
  }

  variables {
    name                         = "airflow-dev"
    vpc_cidr                     = "10.10.0.0/16"
    availability_zones           = 2
    single_nat_gateway           = true
    interface_endpoints          = []
    kms_key_deletion_window_days = 7
  }
}

run "apply" {
  command = apply

  variables {
    vpc_id     = run.network.vpc_id
    subnet_ids = run.network.private_subnet_ids
    # A security group of the VPC stands in for the cluster's node security group.
    allowed_security_group_ids = [run.network.endpoint_security_group_id]
  }

  assert {
    condition     = aws_db_instance.this.identifier == "airflow-dev-airflow" && output.instance_arn == "arn:aws:rds:eu-west-1:111111111111:db:airflow-dev-airflow"
    error_message = "The instance must be <cluster>-airflow with the ARN the ExternalSecret's aws:rds:primaryDBInstanceArn tag names (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true
    error_message = "RDS must manage the master password."
  }

  assert {
    condition     = startswith(output.master_user_secret_arn, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!") && one(aws_db_instance.this.master_user_secret).kms_key_id == aws_kms_key.this.arn
    error_message = "The master user secret must exist in the account's Secrets Manager, encrypted with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == aws_kms_key.this.arn && startswith(aws_kms_key.this.arn, "arn:aws:kms:eu-west-1:111111111111:key/")
    error_message = "Storage must be encrypted with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_instance.this.db_name == "airflow" && aws_db_instance.this.username == "airflow_admin" && output.port == 5432 && aws_db_instance.this.port == 5432
    error_message = "The instance must be PostgreSQL, with database airflow and master user airflow_admin on 5432."
  }

  assert {
    condition     = !aws_db_instance.this.publicly_accessible && aws_db_instance.this.db_subnet_group_name == "airflow-dev-airflow" && toset(aws_db_subnet_group.this.subnet_ids) == toset(run.network.private_subnet_ids)
    error_message = "The instance must be private, in the network's private subnets."
  }

  assert {
    condition     = aws_db_instance.this.monitoring_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-airflow-rds-monitoring" && aws_iam_role_policy_attachment.monitoring[0].policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    error_message = "Enhanced monitoring must use the module's role with the AWS managed monitoring policy."
  }

  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"]) == "1" && one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "password_encryption"]) == "scram-sha-256"
    error_message = "The parameter group must force TLS and scram-sha-256 passwords."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  variables {
    vpc_id                     = run.network.vpc_id
    subnet_ids                 = run.network.private_subnet_ids
    allowed_security_group_ids = [run.network.endpoint_security_group_id]
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true && startswith(one(aws_db_instance.this.master_user_secret).secret_arn, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!") && one(aws_db_instance.this.master_user_secret).kms_key_id == aws_kms_key.this.arn
    error_message = "Read back, RDS must manage the master password in a secret of the emulated account, encrypted with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.arn == "arn:aws:rds:eu-west-1:111111111111:db:airflow-dev-airflow" && aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == aws_kms_key.this.arn
    error_message = "Read back, the instance must keep its name and its encryption with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled && !aws_db_instance.this.multi_az && !aws_db_instance.this.deletion_protection && aws_db_instance.this.backup_retention_period == 3
    error_message = "Read back, dev's instance must be single-AZ, unprotected, with IAM auth and three days of backups."
  }

  assert {
    condition     = aws_db_instance.this.vpc_security_group_ids == toset([aws_security_group.this.id]) && aws_vpc_security_group_ingress_rule.postgres["0"].referenced_security_group_id == run.network.endpoint_security_group_id && aws_vpc_security_group_ingress_rule.postgres["0"].from_port == 5432
    error_message = "Read back, the instance must sit behind its own security group, open on 5432 to the allowed group only."
  }

  # The emulator does not return a group's parameters (the plan-mode tests cover them): only the
  # group itself is read back.
  assert {
    condition     = aws_db_parameter_group.this.family == "postgres17" && startswith(aws_db_parameter_group.this.name, "airflow-dev-airflow-") && aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name
    error_message = "Read back, the instance must use the module's postgres17 parameter group."
  }

  assert {
    condition     = aws_db_instance.this.ca_cert_identifier == var.ca_cert_identifier && aws_db_instance.this.engine_version == "17"
    error_message = "Read back, the instance must run PostgreSQL 17 with the CA asked for."
  }

  assert {
    condition     = toset([for g in aws_cloudwatch_log_group.this : g.name]) == toset(["/aws/rds/instance/airflow-dev-airflow/postgresql", "/aws/rds/instance/airflow-dev-airflow/upgrade"]) && alltrue([for g in aws_cloudwatch_log_group.this : g.kms_key_id == aws_kms_key.this.arn])
    error_message = "Read back, the exported log groups must exist before RDS writes to them, encrypted with the module's key."
  }
}
