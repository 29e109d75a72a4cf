# Unit tests of the karpenter module: plan only, against a mocked AWS provider (no credentials,
# no network). Run with `terraform test` in the module folder.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111111111111"
    }
  }
}

# Computed ARNs that the assertions compare against, known at plan time.
override_resource {
  target          = aws_iam_role.node
  override_during = plan
  values = {
    arn = "arn:aws:iam::111111111111:role/airflow-dev-karpenter-node"
  }
}

override_resource {
  target          = aws_iam_role.controller
  override_during = plan
  values = {
    arn = "arn:aws:iam::111111111111:role/airflow-dev-karpenter"
  }
}

override_resource {
  target          = aws_sqs_queue.interruption
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:111111111111:airflow-dev-karpenter"
    url = "https://sqs.eu-west-1.amazonaws.com/111111111111/airflow-dev-karpenter"
  }
}

variables {
  cluster_name = "airflow-dev"
  tags         = { Environment = "dev" }
}

run "names_follow_the_contract" {
  command = plan

  assert {
    condition     = aws_iam_role.node.name == "airflow-dev-karpenter-node"
    error_message = "The node role must be <cluster>-karpenter-node (the EC2NodeClass role)."
  }

  assert {
    condition     = aws_sqs_queue.interruption.name == "airflow-dev-karpenter"
    error_message = "The interruption queue must be <cluster>-karpenter (settings.interruptionQueue)."
  }

  assert {
    condition     = aws_iam_role.controller.name == "airflow-dev-karpenter"
    error_message = "The controller role must be <cluster>-<workload key>, the workload key being karpenter."
  }

  assert {
    condition = (
      aws_eks_access_entry.node.type == "EC2_LINUX"
      && aws_eks_access_entry.node.principal_arn == "arn:aws:iam::111111111111:role/airflow-dev-karpenter-node"
      && aws_eks_access_entry.node.cluster_name == "airflow-dev"
    )
    error_message = "The node role must have an EC2_LINUX access entry so that its nodes can join."
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.node)) == toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"])
    error_message = "The node role must have the worker, CNI, ECR pull-only and SSM managed policies, and nothing else."
  }

  assert {
    condition = (
      aws_eks_pod_identity_association.controller.namespace == "kube-system"
      && aws_eks_pod_identity_association.controller.service_account == "karpenter"
      && aws_eks_pod_identity_association.controller.role_arn == "arn:aws:iam::111111111111:role/airflow-dev-karpenter"
    )
    error_message = "The controller role must be bound to kube-system/karpenter through Pod Identity."
  }

  assert {
    condition = (
      local.controller_assume_role_statements[0].Principal.Service == "pods.eks.amazonaws.com"
      && toset(local.controller_assume_role_statements[0].Action) == toset(["sts:AssumeRole", "sts:TagSession"])
      && local.controller_assume_role_statements[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == "karpenter"
      && local.controller_assume_role_statements[0].Condition.StringEquals["aws:RequestTag/eks-cluster-arn"] == "arn:aws:eks:eu-west-1:111111111111:cluster/airflow-dev"
    )
    error_message = "Only the Pod Identity service, for kube-system/karpenter of this cluster, may assume the controller role."
  }
}

run "queue_is_encrypted_short_lived_and_fed" {
  command = plan

  assert {
    condition     = aws_sqs_queue.interruption.sqs_managed_sse_enabled == true
    error_message = "The interruption queue must be encrypted at rest."
  }

  assert {
    condition     = aws_sqs_queue.interruption.message_retention_seconds == 300
    error_message = "Interruption messages are only useful for minutes; keep them 300 seconds."
  }

  assert {
    condition = (
      toset(local.queue_policy_statements[0].Principal.Service) == toset(["events.amazonaws.com", "sqs.amazonaws.com"])
      && local.queue_policy_statements[0].Action == "sqs:SendMessage"
      && local.queue_policy_statements[0].Resource == "arn:aws:sqs:eu-west-1:111111111111:airflow-dev-karpenter"
    )
    error_message = "Only EventBridge and SQS may send to the queue, and only SendMessage."
  }

  assert {
    condition = anytrue([
      for s in local.queue_policy_statements :
      s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "The queue policy must deny requests without TLS."
  }

  assert {
    condition = toset(flatten([for k, r in aws_cloudwatch_event_rule.interruption : jsondecode(r.event_pattern)["detail-type"]])) == toset([
      "AWS Health Event",
      "EC2 Spot Instance Interruption Warning",
      "EC2 Instance Rebalance Recommendation",
      "EC2 Instance State-change Notification",
      "EC2 Capacity Reservation Instance Interruption Warning",
    ])
    error_message = "EventBridge must forward health, spot interruption, rebalance, state-change and capacity reservation events."
  }

  assert {
    condition     = alltrue([for t in aws_cloudwatch_event_target.interruption : t.arn == "arn:aws:sqs:eu-west-1:111111111111:airflow-dev-karpenter"])
    error_message = "Every rule must target the interruption queue."
  }
}

run "controller_policy_is_least_privilege" {
  command = plan

  assert {
    condition = alltrue([
      for s in concat(local.controller_policy_statements, local.controller_assume_role_statements, local.node_assume_role_statements) :
      !(contains(flatten([s.Action]), "*") && contains(flatten([lookup(s, "Resource", [])]), "*"))
    ])
    error_message = "No policy statement may allow action * on resource *."
  }

  assert {
    condition     = alltrue([for s in local.controller_policy_statements : alltrue([for a in flatten([s.Action]) : !strcontains(a, "*")])])
    error_message = "The controller policy must name every action; no wildcard actions."
  }

  assert {
    condition = alltrue([
      for s in local.controller_policy_statements :
      s.Resource == "arn:aws:iam::111111111111:role/airflow-dev-karpenter-node" if contains(flatten([s.Action]), "iam:PassRole")
    ]) && length([for s in local.controller_policy_statements : s if contains(flatten([s.Action]), "iam:PassRole")]) == 1
    error_message = "iam:PassRole must be granted once, on the node role only."
  }

  assert {
    condition = alltrue([
      for s in local.controller_policy_statements :
      s.Resource == "arn:aws:sqs:eu-west-1:111111111111:airflow-dev-karpenter" if anytrue([for a in flatten([s.Action]) : startswith(a, "sqs:")])
    ])
    error_message = "SQS actions must be limited to the interruption queue."
  }

  assert {
    # Statements that create, tag or delete instances, launch templates or instance profiles must
    # be tied to this cluster's tag.
    condition = alltrue([
      for s in local.controller_policy_statements :
      strcontains(jsonencode(lookup(s, "Condition", {})), "kubernetes.io/cluster/airflow-dev")
      if length(setintersection(toset(flatten([s.Action])), toset([
        "ec2:CreateTags", "ec2:CreateLaunchTemplate", "ec2:TerminateInstances", "ec2:DeleteLaunchTemplate",
        "iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile",
      ]))) > 0
    ])
    error_message = "Every create, tag or delete statement must be conditioned on kubernetes.io/cluster/<cluster> = owned."
  }

  assert {
    condition = alltrue([
      for s in local.controller_policy_statements :
      contains(keys(lookup(s, "Condition", {})), "StringEquals") || !contains(flatten([s.Resource]), "*")
      if !contains(["AllowPricingReadActions", "AllowUnscopedInstanceProfileListAction"], s.Sid)
    ])
    error_message = "Apart from pricing and the instance profile list, a statement on resource * must carry a condition."
  }

  assert {
    condition     = length(aws_iam_role_policy.controller.policy) < 10240
    error_message = "The inline controller policy must stay within IAM's 10,240-character limit for a role's inline policies."
  }
}

run "another_cluster_gets_its_own_names" {
  command = plan

  variables {
    cluster_name = "airflow-prod"
  }

  assert {
    condition = (
      aws_iam_role.node.name == "airflow-prod-karpenter-node"
      && aws_sqs_queue.interruption.name == "airflow-prod-karpenter"
      && aws_iam_role.controller.name == "airflow-prod-karpenter"
    )
    error_message = "Names must follow the cluster name."
  }

  assert {
    condition     = alltrue([for r in aws_cloudwatch_event_rule.interruption : startswith(r.name, "airflow-prod-karpenter-") && length(r.name) <= 64])
    error_message = "EventBridge rule names must start with <cluster>-karpenter- and fit in 64 characters."
  }
}

run "rejects_invalid_cluster_name" {
  command = plan

  variables {
    cluster_name = "Airflow_Dev"
  }

  expect_failures = [var.cluster_name]
}

run "rejects_cluster_name_too_long_for_derived_names" {
  command = plan

  variables {
    cluster_name = "airflow-platform-production-eu-west"
  }

  expect_failures = [var.cluster_name]
}

run "every_role_carries_the_boundary_and_the_prefix" {
  command = plan

  variables {
    permissions_boundary_arn = "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary"
  }

  assert {
    condition     = alltrue([for r in [aws_iam_role.node, aws_iam_role.controller] : r.permissions_boundary == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary" && startswith(r.name, "airflow-dev-")])
    error_message = "Every role of the module must carry the platform's permissions boundary and its name prefix airflow-dev-."
  }
}
