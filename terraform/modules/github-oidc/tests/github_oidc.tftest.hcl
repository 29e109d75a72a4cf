# Unit tests: plan only, against a mocked AWS provider.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "444444444444" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    override_during = plan
    defaults = {
      arn = "arn:aws:iam::444444444444:oidc-provider/token.actions.githubusercontent.com"
    }
  }
}

variables {
  repository = "example-org/airflow-eks-platform"
  roles = {
    image-push = {
      subjects           = ["ref:refs/heads/main", "ref:refs/tags/v*"]
      inline_policy_json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:GetAuthorizationToken\",\"Resource\":\"*\"}]}"
    }
    terraform-apply = {
      subjects            = ["environment:prod"]
      managed_policy_arns = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    }
  }
  name_prefix              = "airflow-prod-github"
  permissions_boundary_arn = "arn:aws:iam::444444444444:policy/airflow-prod-permissions-boundary"
}

run "roles_trust_only_their_subjects" {
  command = plan

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The provider must be GitHub's issuer, for the STS audience."
  }

  assert {
    condition     = toset(keys(aws_iam_role.this)) == toset(["image-push", "terraform-apply"]) && aws_iam_role.this["image-push"].name == "airflow-prod-github-image-push"
    error_message = "One role per entry, named <name_prefix>-<role>."
  }

  assert {
    condition = jsondecode(aws_iam_role.this["image-push"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == [
      "repo:example-org/airflow-eks-platform:ref:refs/heads/main",
      "repo:example-org/airflow-eks-platform:ref:refs/tags/v*",
    ]
    error_message = "The trust must name the repository and exactly the given subjects."
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["terraform-apply"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    error_message = "The token's audience must be STS."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : r.permissions_boundary == "arn:aws:iam::444444444444:policy/airflow-prod-permissions-boundary" && startswith(r.name, "airflow-prod-")])
    error_message = "Every role must carry the given permissions boundary and the name prefix."
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy.this)) == toset(["image-push"]) && toset(keys(aws_iam_role_policy_attachment.this)) == toset(["terraform-apply|arn:aws:iam::aws:policy/AdministratorAccess"])
    error_message = "Inline policies and managed attachments go only to the roles that name them."
  }
}

run "an_existing_provider_is_used_by_its_fixed_arn" {
  command = plan

  variables {
    create_oidc_provider = false
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0 && output.oidc_provider_arn == "arn:aws:iam::444444444444:oidc-provider/token.actions.githubusercontent.com"
    error_message = "Without creating it, the roles must trust the account's existing provider."
  }
}

run "a_wildcard_subject_is_refused" {
  command = plan

  variables {
    roles = { anything = { subjects = ["*"] } }
  }

  expect_failures = [var.roles]
}
