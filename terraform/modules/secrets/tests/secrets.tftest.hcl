# Unit tests: plan only, against a mocked AWS provider. The KMS key ARN is fixed during the plan so
# that each secret's encryption can be compared with it.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
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
      arn    = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-000000000005"
      key_id = "00000000-0000-0000-0000-000000000005"
    }
  }
}

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
}

run "airflow_secrets" {
  command = plan

  assert {
    condition = toset([for s in aws_secretsmanager_secret.this : s.name]) == toset([
      "airflow-dev/airflow/fernet-key",
      "airflow-dev/airflow/api-secret-key",
      "airflow-dev/airflow/jwt-secret",
      "airflow-dev/airflow/redis-password",
      "airflow-dev/airflow/pgbouncer-client-password",
      "airflow-dev/airflow/metadata-db",
    ])
    error_message = "Every secret must be named <cluster>/<name>, the names External Secrets reads through its prefixed store."
  }

  assert {
    condition     = output.secret_names == sort([for s in aws_secretsmanager_secret.this : s.name]) && toset(keys(output.secret_arns)) == setunion(var.generated_secrets, ["airflow/metadata-db"])
    error_message = "The outputs must list every secret, by full name and by short name."
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.kms_key_id == aws_kms_key.this.arn]) && aws_kms_key.this.enable_key_rotation == true
    error_message = "Every secret must be encrypted with the module's rotating KMS key."
  }

  assert {
    condition     = keys(aws_secretsmanager_secret_version.plain) == ["airflow/metadata-db"]
    error_message = "Only plain values get a version from Terraform; generated secrets stay empty until invoke fills them."
  }

  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.plain["airflow/metadata-db"].secret_string) == { host = "airflow-dev-airflow.abc123.eu-west-1.rds.amazonaws.com", port = 5432, dbname = "airflow" }
    error_message = "A plain value is stored as the JSON of its object (keys host, port, dbname for the metadata DB)."
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.recovery_window_in_days == 30])
    error_message = "Deleted secrets stay recoverable for 30 days by default."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : s.Principal.AWS == "arn:aws:iam::111111111111:root"])
    error_message = "The key policy names only the account itself, never a wildcard principal."
  }

  assert {
    condition     = [for s in jsondecode(aws_kms_key.this.policy).Statement : s.Condition.StringEquals["kms:ViaService"] if contains(s.Action, "kms:Decrypt")] == ["secretsmanager.eu-west-1.amazonaws.com"]
    error_message = "Decryption must be possible only through Secrets Manager in the region."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : !contains(s.Action, "kms:*") && !contains(s.Action, "kms:CreateGrant")])
    error_message = "The key policy must not hand out kms:* or grants, which would bypass the Secrets Manager condition."
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/airflow-dev-secrets"
    error_message = "The key alias follows the prefix."
  }
}

run "prod_without_plain_values" {
  command = plan

  variables {
    name_prefix          = "airflow-prod/"
    generated_secrets    = ["airflow/fernet-key"]
    plain_values         = {}
    recovery_window_days = 7
  }

  assert {
    condition     = [for s in aws_secretsmanager_secret.this : s.name] == ["airflow-prod/airflow/fernet-key"] && length(aws_secretsmanager_secret_version.plain) == 0
    error_message = "Only the requested secrets exist, without any value."
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.recovery_window_in_days == 7])
    error_message = "The recovery window follows the variable."
  }
}

run "rejects_recovery_window_out_of_range" {
  command = plan

  variables {
    recovery_window_days = 3
  }

  expect_failures = [var.recovery_window_days]
}

run "rejects_prefix_without_slash" {
  command = plan

  variables {
    name_prefix = "airflow-dev"
  }

  expect_failures = [var.name_prefix]
}

run "rejects_name_in_both_lists" {
  command = plan

  variables {
    generated_secrets = ["airflow/metadata-db"]
  }

  expect_failures = [var.plain_values]
}

run "rejects_non_object_plain_value" {
  command = plan

  variables {
    plain_values = { "airflow/metadata-db" = "host=db" }
  }

  expect_failures = [var.plain_values]
}
