# Unit tests: plan only, against a mocked AWS provider. The plan role reads no secret; the boundary
# keeps every role of the stack inside the prefix and itself.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
}

variables {
  name             = "airflow-dev"
  state_bucket     = "airflow-dev-tfstate-111111111111"
  state_key_prefix = "dev/"
  ci_role_prefix   = "airflow-dev-github"
}

run "the_plan_role_reads_no_secret" {
  command = plan

  assert {
    condition = {
      for s in jsondecode(output.plan_policy_json).Statement : s.Sid => s.Action if s.Effect == "Deny" && try(s.Resource, "") == "*" && try(s.Condition, null) == null
      } == {
      NoSecretValue          = ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"]
      NoDecryptedParameter   = ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath"]
      NoUserPoolClientSecret = "cognito-idp:DescribeUserPoolClient"
    }
    error_message = "The plan role must be denied secret values, every SSM parameter read and the user pool client, on every resource."
  }

  assert {
    condition = one([for s in jsondecode(output.plan_policy_json).Statement : s if s.Sid == "NoObjectButTheState"]) == {
      Sid         = "NoObjectButTheState"
      Effect      = "Deny"
      Action      = "s3:GetObject"
      NotResource = ["arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tfstate", "arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tflock"]
    }
    error_message = "The plan role must be denied s3:GetObject on anything but the stack's state objects and lock files."
  }

  assert {
    condition = one([for s in jsondecode(output.plan_policy_json).Statement : s if s.Sid == "NoDecryptOutsideTheState"]).Condition == {
      StringNotEquals = { "kms:ViaService" = "s3.eu-west-1.amazonaws.com" }
    }
    error_message = "No key may decrypt for the plan role but through S3 (a SecureString parameter decrypts through SSM)."
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(output.plan_policy_json).Statement : [
        for a in flatten([s.Action]) : !endswith(a, "*") && !startswith(a, "iam:") && !contains(["s3:PutBucketPolicy", "kms:PutKeyPolicy"], a)
      ] if s.Effect == "Allow"
    ]))
    error_message = "The plan role's allows must be named actions, none of them a write but the lock file's."
  }

  assert {
    condition = toset(flatten([for s in jsondecode(output.plan_policy_json).Statement : flatten([s.Action]) if s.Effect == "Allow"])) == toset([
      "ec2:DescribeAvailabilityZones", "route53:GetHostedZone", "route53:ListHostedZones", "route53:ListTagsForResource",
      "s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "kms:Decrypt", "kms:GenerateDataKey",
    ])
    error_message = "The plan role may read the data sources and the state, and write the lock file: nothing else (no ReadOnlyAccess)."
  }

  assert {
    condition     = one([for s in jsondecode(output.plan_policy_json).Statement : s if s.Sid == "StateLockFile"]).Resource == "arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tflock"
    error_message = "The plan role writes the lock file only."
  }
}

run "the_boundary_keeps_roles_inside" {
  command = plan

  assert {
    condition     = aws_iam_policy.boundary.name == "airflow-dev-permissions-boundary"
    error_message = "The boundary is named after the platform."
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "NoRoleOutsideThePrefix"]).NotResource == "arn:aws:iam::111111111111:role/airflow-dev-*" && contains(
      one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "NoRoleOutsideThePrefix"]).Action, "iam:CreateRole"
    )
    error_message = "No role may be created, changed or passed outside the platform's name prefix."
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "NewRolesCarryThisBoundary"]).Condition == {
      StringNotEquals = { "iam:PermissionsBoundary" = "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary" }
    }
    error_message = "A role may only be created with this very boundary."
  }

  assert {
    condition = (
      one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "TheBoundaryStaysAsItIs"]).Resource == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary"
      && one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "NoRoleWithoutIt"]).Action == "iam:DeleteRolePermissionsBoundary"
    )
    error_message = "The boundary can be neither changed nor removed from a role."
  }

  assert {
    condition = (
      one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "CiRolesByBreakGlassOnly"]).Resource == "arn:aws:iam::111111111111:role/airflow-dev-github-*"
      && contains(one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "CiRolesByBreakGlassOnly"]).Action, "iam:UpdateAssumeRolePolicy")
    )
    error_message = "No bounded role may change the CI roles' trust or policies."
  }

  assert {
    condition = (
      one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "StateBucketByBreakGlassOnly"]).Resource == "arn:aws:s3:::airflow-dev-tfstate-111111111111"
      && contains(one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "StateBucketByBreakGlassOnly"]).Action, "s3:PutBucketPolicy")
      && one([for s in jsondecode(aws_iam_policy.boundary.policy).Statement : s if s.Sid == "StateKeyByBreakGlassOnly"]).Condition["ForAnyValue:StringEquals"]["kms:ResourceAliases"] == "alias/airflow-dev-tfstate"
    )
    error_message = "No bounded role may change the state bucket's policy or its key."
  }
}

run "a_state_prefix_without_its_slash_is_refused" {
  command = plan

  variables {
    state_key_prefix = "dev"
  }

  expect_failures = [var.state_key_prefix]
}
