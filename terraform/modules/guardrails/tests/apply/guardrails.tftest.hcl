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

  endpoints {
    iam = var.aws_endpoint
    sts = var.aws_endpoint
  }
}

variables {
  name             = "airflow-dev"
  state_bucket     = "airflow-dev-tfstate-111111111111"
  state_key_prefix = "dev/"
  ci_role_prefix   = "airflow-dev-github"
}

run "apply" {
  command = apply

  assert {
    condition     = output.permissions_boundary_arn == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary"
    error_message = "IAM must accept the boundary under the ARN the boundary names itself by (NewRolesCarryThisBoundary)."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition = [for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s.Sid] == [
      "WhatTheRolesOwnPoliciesAllow", "NoRoleOutsideThePrefix", "NewRolesCarryThisBoundary", "NoRoleWithoutIt", "TheBoundaryStaysAsItIs",
      "CiRolesByBreakGlassOnly", "GithubProviderByBreakGlassOnly", "NoLongLivedCredentials", "StateBucketByBreakGlassOnly",
      "StateKeyByBreakGlassOnly", "StateKeyAliasByBreakGlassOnly",
    ]
    error_message = "Read back, the boundary must hold every statement, in order."
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s.Condition if s.Sid == "NewRolesCarryThisBoundary"]).StringNotEquals["iam:PermissionsBoundary"] == aws_iam_policy.boundary.arn
    error_message = "Read back, the boundary must require itself of every new role."
  }
}
