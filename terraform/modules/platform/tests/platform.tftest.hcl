# The composition of one environment, planned against a mocked AWS provider with the repository's
# own cluster.yaml files: names follow the contract, prod is protected, policies are least-privilege.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
  }
  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      zone_ids = ["euw1-az3", "euw1-az1", "euw1-az2"]
    }
  }
  mock_data "aws_route53_zone" {
    defaults = { arn = "arn:aws:route53:::hostedzone/Z0000000000000000000", zone_id = "Z0000000000000000000" }
  }
  # The one managed policy the platform makes is the guard rails' boundary.
  mock_resource "aws_iam_policy" {
    override_during = plan
    defaults        = { arn = "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary" }
  }
}

run "dev" {
  command = plan

  variables {
    cluster = yamldecode(file("../../../clusters/dev/cluster.yaml"))
  }

  assert {
    condition     = local.logs_bucket == "airflow-dev-logs-111111111111" && output.database_identifier == "airflow-dev-airflow"
    error_message = "The logs bucket and the database must carry the names the cluster side derives from cluster.yaml."
  }

  assert {
    condition     = module.edge.web_acl_name == "airflow-dev-airflow" && local.alb_logs_bucket == "airflow-dev-alb-logs-111111111111"
    error_message = "The web ACL and the access log bucket must carry the names the Ingress annotations give: <cluster>-airflow and <cluster>-alb-logs-<account>."
  }

  assert {
    condition     = output.karpenter_queue_name == "airflow-dev-karpenter" && output.karpenter_node_role_name == "airflow-dev-karpenter-node"
    error_message = "Karpenter's queue and node role must be <cluster>-karpenter and <cluster>-karpenter-node."
  }

  assert {
    condition = (
      local.github_repository == "example-org/airflow-eks-platform"
      && local.ci_apply_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-github-terraform-apply"
    )
    error_message = "The CI roles must belong to the repository in gitops.repo_url, named <cluster>-github-<role>."
  }

  assert {
    condition     = module.database.identifier == "airflow-dev-airflow" && !module.database.multi_az && !module.database.deletion_protection
    error_message = "dev's database is single-AZ without deletion protection, as its cluster.yaml says."
  }

  assert {
    condition = toset(output.secret_names) == toset([
      "airflow-dev/airflow/fernet-key", "airflow-dev/airflow/api-secret-key", "airflow-dev/airflow/jwt-secret",
      "airflow-dev/airflow/redis-password", "airflow-dev/airflow/pgbouncer-client-password",
      "airflow-dev/airflow/metadata-db-password",
      "airflow-dev/airflow/metadata-db", "airflow-dev/airflow/cognito",
    ])
    error_message = "Every secret the ExternalSecrets read must be created under <cluster>/."
  }

  assert {
    condition     = !contains(keys(module.workload_iam.role_names), "karpenter") && length(module.workload_iam.role_names) == length(var.cluster.workload_identities) - 1
    error_message = "Every workload identity but Karpenter's (owned by the karpenter module) gets a role from workload-iam."
  }

  assert {
    condition = alltrue([
      for key, statements in local.policy_statements : alltrue([
        for s in statements : alltrue([for a in s.Action : a != "*" && !endswith(a, ":*")])
      ])
    ])
    error_message = "No workload policy may grant a wildcard action (so none grants every action on every resource)."
  }

  assert {
    condition = alltrue([
      for s in local.policy_statements["load-balancer-controller"] :
      contains(s.Resource, "*") ? (can(s.Condition) || alltrue([for a in s.Action : can(regex(":(Describe|List|Get)", a))])) : true
    ])
    error_message = "Load Balancer Controller actions on '*' must be read-only or conditioned on this cluster's tag."
  }

  assert {
    condition = (
      toset(setsubtract(flatten([for s in local.lbc_upstream_policy.Statement : s.Action]), local.lbc_omitted_actions))
      == toset(setsubtract(flatten([for s in local.policy_statements["load-balancer-controller"] : s.Action]), local.lbc_added_actions))
    )
    error_message = "The Load Balancer Controller's policy must grant upstream's actions for the pinned version (policies/aws-load-balancer-controller-<version>.json), less the omissions and plus the additions its README names, and no others."
  }

  assert {
    condition = alltrue([
      for s in local.policy_statements["load-balancer-controller"] : contains(s.Action, "elasticloadbalancing:AddTags") ? (
        try(s.Condition.StringEquals["aws:ResourceTag/elbv2.k8s.aws/cluster"], null) == ["airflow-dev"]
        || (
          try(s.Condition.StringEquals["elasticloadbalancing:CreateAction"], null) == ["CreateTargetGroup", "CreateLoadBalancer"]
          && try(s.Condition.StringEquals["aws:RequestTag/elbv2.k8s.aws/cluster"], null) == ["airflow-dev"]
        )
        || alltrue([for r in s.Resource : can(regex(":listener(-rule)?/", r))])
      ) : true
    ])
    error_message = "The controller may tag a load balancer or target group only if this cluster's tag is on it, or as it creates it with this cluster's tag: never adopt another load balancer of the account."
  }

  assert {
    condition = alltrue([
      for s in local.policy_statements["load-balancer-controller"] :
      length(setintersection(s.Action, ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"])) > 0
      ? try(s.Condition.StringEquals["aws:ResourceTag/elbv2.k8s.aws/cluster"], null) == ["airflow-dev"] : true
    ]) && module.cluster.node_security_group_tags["elbv2.k8s.aws/cluster"] == "airflow-dev"
    error_message = "The controller may change security group rules only on groups with this cluster's tag, and the node security group must carry it so that the controller can open the target ports from the ALB to the pods."
  }

  assert {
    condition = (
      one([for s in local.policy_statements["load-balancer-controller"] : s.Condition.Null["aws:ResourceTag/karpenter.sh/discovery"] if s.Sid == "DeleteOwnSecurityGroups"]) == "true"
      && module.cluster.node_security_group_tags["karpenter.sh/discovery"] == "airflow-dev"
    )
    error_message = "The controller must not be able to delete the node security group, which carries this cluster's tag but also Karpenter's discovery tag."
  }

  assert {
    condition = one([for s in local.policy_statements["airflow-logs-and-secrets"] : s.Resource if s.Sid == "ReadSecretsBackend"]) == [
      "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/airflow/connections/*",
      "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/airflow/variables/*",
    ]
    error_message = "Airflow may read only its secrets backend's connections and variables, under its cluster's prefix."
  }

  assert {
    condition     = output.pod_identity_associations["karpenter"].namespace == "kube-system" && output.pod_identity_associations["external-secrets"].service_account == "external-secrets"
    error_message = "Pod Identity associations must bind the namespaces and service accounts that cluster.yaml names."
  }
}

run "ci_roles_behind_the_guard_rails" {
  command = plan

  variables {
    cluster = yamldecode(file("../../../clusters/dev/cluster.yaml"))
  }

  assert {
    condition = (
      module.ci_roles.roles["terraform-plan"].subjects == tolist(["pull_request"]) && length(module.ci_roles.roles["terraform-plan"].managed_policy_arns) == 0
    )
    error_message = "The plan role trusts pull requests and has no managed policy (no ReadOnlyAccess): its inline policy is all it may do."
  }

  assert {
    condition = (
      module.ci_roles.roles["terraform-apply"].subjects == tolist(["environment:dev"])
      && module.ci_roles.roles["terraform-apply"].managed_policy_arns == tolist(["arn:aws:iam::aws:policy/AdministratorAccess"])
    )
    error_message = "The apply role trusts the environment's GitHub environment only (no promotion environment), and administers inside the boundary."
  }

  assert {
    condition = alltrue([
      for r in values(module.ci_roles.roles) : r.permissions_boundary == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary" && startswith(r.name, "airflow-dev-github-")
    ]) && module.guardrails.permissions_boundary_arn == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary"
    error_message = "Every CI role, the apply role included, carries the platform's boundary and name prefix."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(module.guardrails.plan_policy_json).Statement : flatten([s.Action]) if s.Effect == "Deny"
      ])) == toset([
      "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue",
      "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath",
      "kms:Decrypt", "cognito-idp:DescribeUserPoolClient", "s3:GetObject",
    ])
    error_message = "The plan role is denied secret values, decrypted parameters, the user pool client and every object but the state."
  }

  assert {
    condition = one([for s in jsondecode(module.guardrails.plan_policy_json).Statement : s.NotResource if s.Sid == "NoObjectButTheState"]) == [
      "arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tfstate", "arn:aws:s3:::airflow-dev-tfstate-111111111111/dev/*.tflock",
    ]
    error_message = "The plan role reads dev's state objects and lock files in dev's state bucket, and no other object."
  }
}

run "nodes_fill_the_pull_through_cache_under_its_prefixes_only" {
  command = plan

  variables {
    cluster = yamldecode(file("../../../clusters/prod/cluster.yaml"))
  }

  assert {
    condition = (
      toset(jsondecode(aws_iam_policy.pull_through_cache[0].policy).Statement[0].Action) == toset(["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]) &&
      jsondecode(aws_iam_policy.pull_through_cache[0].policy).Statement[0].Resource == [for p in ["docker-hub", "ecr-public", "ghcr", "quay", "registry-k8s-io"] : "arn:aws:ecr:eu-west-1:444444444444:repository/${p}/*"]
    )
    error_message = "Nodes may fill the registry account's cache, under the prefixes cluster.yaml names, and nothing else."
  }

  assert {
    condition     = { for k, a in aws_iam_role_policy_attachment.pull_through_cache : k => a.role } == { system = "airflow-prod-system-node", karpenter = "airflow-prod-karpenter-node" }
    error_message = "Both node roles (the system node group's and Karpenter's) carry the pull-through policy."
  }
}

run "prod_is_protected" {
  command = plan

  variables {
    cluster = yamldecode(file("../../../clusters/prod/cluster.yaml"))
  }

  assert {
    condition     = module.database.multi_az && module.database.deletion_protection
    error_message = "prod's database must be Multi-AZ with deletion protection."
  }

  assert {
    condition     = length(module.network.nat_gateway_ids) == 3
    error_message = "prod runs one NAT gateway per zone."
  }

  assert {
    condition     = local.logs_bucket == "airflow-prod-logs-333333333333"
    error_message = "prod's bucket carries prod's cluster name and account."
  }
}

run "unknown_policy_is_refused" {
  command = plan

  variables {
    cluster = merge(yamldecode(file("../../../clusters/dev/cluster.yaml")), {
      workload_identities = {
        reporting = { namespace = "reporting", service_account = "reporter", policy = "admin" }
      }
    })
  }

  expect_failures = [var.cluster]
}
