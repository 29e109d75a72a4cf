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
    iam = var.aws_endpoint
    sts = var.aws_endpoint
  }
}

# The CI roles the platform module gives dev (terraform/modules/platform/ci.tf). The AWS managed
# policies exist because the emulator loads them (MOTO_IAM_LOAD_MANAGED_POLICIES=true).
variables {
  repository           = "example-org/airflow-eks-platform"
  create_oidc_provider = true
  name_prefix          = "airflow-dev-github"
  roles = {
    terraform-plan = {
      subjects           = ["pull_request"]
      inline_policy_json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"StateLockFile\",\"Effect\":\"Allow\",\"Action\":[\"s3:PutObject\",\"s3:DeleteObject\"],\"Resource\":\"arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tflock\"}]}"
    }
    terraform-apply = {
      subjects            = ["environment:dev"]
      managed_policy_arns = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    }
  }
}

run "apply" {
  command = apply

  assert {
    condition     = data.aws_caller_identity.current.account_id == "111111111111"
    error_message = "The provider must talk to the emulated account (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition     = output.oidc_provider_arn == "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].arn == output.oidc_provider_arn
    error_message = "The GitHub OIDC provider must be created under the ARN the module derives when it only looks it up."
  }

  assert {
    # The platform module builds this ARN itself (it is known at plan time) to make the role a cluster admin.
    condition = output.role_arns == {
      terraform-apply = "arn:aws:iam::111111111111:role/airflow-dev-github-terraform-apply"
      terraform-plan  = "arn:aws:iam::111111111111:role/airflow-dev-github-terraform-plan"
    }
    error_message = "The roles must be named <name_prefix>-<role>, with the ARNs the platform module derives."
  }

  assert {
    condition     = toset([for a in aws_iam_role_policy_attachment.this : "${a.role}|${a.policy_arn}"]) == toset(["airflow-dev-github-terraform-apply|arn:aws:iam::aws:policy/AdministratorAccess"])
    error_message = "Each role must get exactly its managed policies."
  }

  assert {
    condition     = keys(aws_iam_role_policy.this) == ["terraform-plan"] && aws_iam_role_policy.this["terraform-plan"].name == "airflow-dev-github-terraform-plan"
    error_message = "Only the role with an inline policy gets one, named after the role."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "Read back, the provider must be GitHub's issuer, for the STS audience."
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["terraform-apply"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == ["repo:example-org/airflow-eks-platform:environment:dev"]
    error_message = "Read back, the apply role must trust only the repository's dev environment."
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["terraform-plan"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == ["repo:example-org/airflow-eks-platform:pull_request"] && jsondecode(aws_iam_role.this["terraform-plan"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    error_message = "Read back, the plan role must trust only the repository's pull requests, with the STS audience."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : jsondecode(r.assume_role_policy).Statement[0].Principal.Federated == "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com" && r.max_session_duration == 3600])
    error_message = "Read back, every role must trust the account's GitHub provider, for at most an hour."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.this["terraform-plan"].policy).Statement[0].Resource == "arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tflock"
    error_message = "Read back, the plan role's inline policy must reach the state lock file only."
  }
}
