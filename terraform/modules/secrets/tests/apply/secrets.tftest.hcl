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
    kms            = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
  }
}

# What the platform module passes for dev.
variables {
  name_prefix = "airflow-dev/"
  generated_secrets = [
    "airflow/fernet-key",
    "airflow/api-secret-key",
    "airflow/jwt-secret",
    "airflow/redis-password",
    "airflow/pgbouncer-client-password",
  ]
  plain_values = {
    "airflow/metadata-db" = { host = "airflow-dev-airflow.abc123.eu-west-1.rds.amazonaws.com", port = 5432, dbname = "airflow" }
  }
  recovery_window_days = 7
}

run "apply" {
  command = apply

  assert {
    condition     = data.aws_caller_identity.current.account_id == "111111111111"
    error_message = "The provider must talk to the emulated account (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition = output.secret_names == sort([
      "airflow-dev/airflow/api-secret-key",
      "airflow-dev/airflow/fernet-key",
      "airflow-dev/airflow/jwt-secret",
      "airflow-dev/airflow/metadata-db",
      "airflow-dev/airflow/pgbouncer-client-password",
      "airflow-dev/airflow/redis-password",
    ])
    error_message = "The secrets must be created as <cluster>/<name>, the names External Secrets reads."
  }

  assert {
    condition     = alltrue([for n, s in aws_secretsmanager_secret.this : startswith(s.arn, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/${n}-")])
    error_message = "Every secret ARN must be in the emulated account and region, under its full name."
  }

  assert {
    condition     = startswith(aws_kms_key.this.arn, "arn:aws:kms:eu-west-1:111111111111:key/") && output.kms_key_arn == aws_kms_key.this.arn
    error_message = "The KMS key must be created in the emulated account and be the module's output."
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.kms_key_id == aws_kms_key.this.arn])
    error_message = "Every secret must be encrypted with the module's KMS key."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_alias.this.name == "alias/airflow-dev-secrets" && aws_kms_alias.this.target_key_arn == aws_kms_key.this.arn
    error_message = "The key must rotate and carry the alias alias/<cluster>-secrets."
  }

  assert {
    condition     = keys(aws_secretsmanager_secret_version.plain) == ["airflow/metadata-db"] && jsondecode(aws_secretsmanager_secret_version.plain["airflow/metadata-db"].secret_string).dbname == "airflow"
    error_message = "Only the plain value gets a version, holding its object as JSON."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = toset([for s in aws_secretsmanager_secret.this : s.name]) == toset(output.secret_names) && length(aws_secretsmanager_secret.this) == 6
    error_message = "The emulator must return all six secrets under their names."
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.kms_key_id == aws_kms_key.this.arn && startswith(s.arn, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/")])
    error_message = "Read back, every secret must still name the module's KMS key and the emulated account."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.key_usage == "ENCRYPT_DECRYPT" && aws_kms_key.this.is_enabled
    error_message = "Read back, the key must be an enabled symmetric key with rotation on."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : s.Principal.AWS == "arn:aws:iam::111111111111:root"]) && length(jsondecode(aws_kms_key.this.policy).Statement) == 2
    error_message = "Read back, the key policy must name only the emulated account's root."
  }

  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.plain["airflow/metadata-db"].secret_string) == { host = "airflow-dev-airflow.abc123.eu-west-1.rds.amazonaws.com", port = 5432, dbname = "airflow" }
    error_message = "Read back, the metadata-db secret must hold host, port and dbname."
  }
}
