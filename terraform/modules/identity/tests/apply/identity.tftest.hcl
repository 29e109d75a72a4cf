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
    cognitoidp     = var.aws_endpoint
    kms            = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
  }
}

# What the platform module passes for dev.
variables {
  name                        = "airflow-dev"
  hostname                    = "airflow.dev.example.com"
  domain_prefix               = "airflow-dev"
  secret_name                 = "airflow-dev/airflow/cognito"
  deletion_protection         = false
  secret_recovery_window_days = 7
  tags                        = { Environment = "dev" }
}

# The KMS key of the environment's secrets, as in the platform: from the secrets module.
run "secrets_key" {
  command = apply

  module {
    source = "../secrets"
  }

  variables {
    name_prefix                  = "airflow-dev/"
    kms_key_deletion_window_days = 7
  }
}

run "apply" {
  command = apply

  variables {
    kms_key_arn = run.secrets_key.kms_key_arn
  }

  assert {
    condition     = startswith(aws_cognito_user_pool.this.arn, "arn:aws:cognito-idp:eu-west-1:111111111111:userpool/eu-west-1_") && output.user_pool_arn == aws_cognito_user_pool.this.arn
    error_message = "The user pool must be created in the emulated account (MOTO_ACCOUNT_ID=111111111111) and region."
  }

  assert {
    condition     = aws_cognito_user_pool.this.name == "airflow-dev" && output.issuer_url == "https://cognito-idp.eu-west-1.amazonaws.com/${aws_cognito_user_pool.this.id}" && output.domain == "airflow-dev.auth.eu-west-1.amazoncognito.com"
    error_message = "The pool, its issuer and its hosted domain must follow the cluster name."
  }

  assert {
    condition     = aws_secretsmanager_secret.client.name == "airflow-dev/airflow/cognito" && startswith(output.secret_arn, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/airflow/cognito-")
    error_message = "The client secret must be <cluster>/airflow/cognito, the name the ExternalSecret reads."
  }

  assert {
    condition     = aws_secretsmanager_secret.client.kms_key_id == run.secrets_key.kms_key_arn && startswith(run.secrets_key.kms_key_arn, "arn:aws:kms:eu-west-1:111111111111:key/")
    error_message = "The client secret must be encrypted with the secrets module's key."
  }

  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.client.secret_string) == { client_id = aws_cognito_user_pool_client.airflow.id, client_secret = aws_cognito_user_pool_client.airflow.client_secret, user_pool_id = aws_cognito_user_pool.this.id } && aws_cognito_user_pool_client.airflow.client_secret != ""
    error_message = "The secret must hold the real client id, the generated client secret and the pool id."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  variables {
    kms_key_arn = run.secrets_key.kms_key_arn
  }

  assert {
    condition     = toset([for g in aws_cognito_user_group.this : "${g.name}:${g.precedence}"]) == toset(["airflow-admin:1", "airflow-op:2", "airflow-user:3", "airflow-viewer:4"])
    error_message = "Read back, the four Airflow role groups must exist with their precedence."
  }

  assert {
    condition     = aws_cognito_user_pool_client.airflow.allowed_oauth_flows == toset(["code"]) && aws_cognito_user_pool_client.airflow.callback_urls == toset(["https://airflow.dev.example.com/auth/oauth-authorized/cognito"])
    error_message = "Read back, the client must use the code flow with the Airflow callback URL only."
  }

  assert {
    condition     = one(aws_cognito_user_pool.this.admin_create_user_config).allow_admin_create_user_only && one(aws_cognito_user_pool.this.password_policy).minimum_length == 14 && aws_cognito_user_pool.this.username_attributes == toset(["email"])
    error_message = "Read back, only administrators create users, who sign in with their email and a 14-character password."
  }

  assert {
    condition     = aws_secretsmanager_secret.client.kms_key_id == run.secrets_key.kms_key_arn && jsondecode(aws_secretsmanager_secret_version.client.secret_string).user_pool_id == aws_cognito_user_pool.this.id
    error_message = "Read back, the client secret must keep its key and name the pool."
  }
}
