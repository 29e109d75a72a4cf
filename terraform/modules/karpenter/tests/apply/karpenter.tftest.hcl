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
    eks    = var.aws_endpoint
    events = var.aws_endpoint
    iam    = var.aws_endpoint
    sqs    = var.aws_endpoint
    sts    = var.aws_endpoint
  }
}

# The emulator has no EKS access entries or Pod Identity associations: these two are not sent to
# it. Their arguments are still the module's (the real role ARNs go in); the plan-mode tests in
# tests/karpenter.tftest.hcl cover them too.
override_resource {
  target = aws_eks_access_entry.node
  values = {
    access_entry_arn = "arn:aws:eks:eu-west-1:111111111111:access-entry/airflow-dev/role/111111111111/airflow-dev-karpenter-node/00000000-0000-0000-0000-000000000000"
  }
}

override_resource {
  target = aws_eks_pod_identity_association.controller
  values = {
    association_arn = "arn:aws:eks:eu-west-1:111111111111:podidentityassociation/airflow-dev/a-0000000000000000"
    association_id  = "a-0000000000000000"
  }
}

variables {
  cluster_name = "airflow-dev"
  tags         = { Environment = "dev" }
}

run "apply" {
  command = apply

  assert {
    condition     = data.aws_caller_identity.current.account_id == "111111111111"
    error_message = "The provider must talk to the emulated account (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition     = output.node_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-karpenter-node" && output.controller_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-karpenter"
    error_message = "The roles must be named <cluster>-karpenter-node (the EC2NodeClass role) and <cluster>-karpenter."
  }

  assert {
    condition     = output.queue_name == "airflow-dev-karpenter" && output.queue_arn == "arn:aws:sqs:eu-west-1:111111111111:airflow-dev-karpenter"
    error_message = "The interruption queue must be named <cluster>-karpenter (the chart's settings.interruptionQueue)."
  }

  assert {
    condition     = toset([for a in aws_iam_role_policy_attachment.node : a.policy_arn]) == toset(["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"])
    error_message = "The node role must get the four AWS managed node policies."
  }

  assert {
    condition     = length(aws_cloudwatch_event_target.interruption) == 5 && alltrue([for t in aws_cloudwatch_event_target.interruption : t.arn == aws_sqs_queue.interruption.arn])
    error_message = "Every interruption rule must send to the queue."
  }

  assert {
    condition     = aws_eks_access_entry.node.principal_arn == aws_iam_role.node.arn && aws_eks_access_entry.node.type == "EC2_LINUX" && aws_eks_pod_identity_association.controller.role_arn == aws_iam_role.controller.arn
    error_message = "The (not emulated) access entry and association must name the real node and controller roles."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = aws_sqs_queue.interruption.sqs_managed_sse_enabled && aws_sqs_queue.interruption.message_retention_seconds == 300
    error_message = "Read back, the queue must be encrypted (SQS-managed) and keep messages five minutes."
  }

  assert {
    condition     = [for s in jsondecode(aws_sqs_queue_policy.interruption.policy).Statement : s.Sid] == ["EventBridgeSendsInterruptionEvents", "DenyNonTLS"] && jsondecode(aws_sqs_queue_policy.interruption.policy).Statement[0].Resource == "arn:aws:sqs:eu-west-1:111111111111:airflow-dev-karpenter"
    error_message = "Read back, the queue policy must let EventBridge send and deny requests without TLS."
  }

  assert {
    condition     = toset([for r in aws_cloudwatch_event_rule.interruption : r.name]) == toset(["airflow-dev-karpenter-health-event", "airflow-dev-karpenter-spot-interruption", "airflow-dev-karpenter-rebalance", "airflow-dev-karpenter-instance-state-change", "airflow-dev-karpenter-capacity-reservation"])
    error_message = "Read back, the five EventBridge rules must exist under <cluster>-karpenter-<event>."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.interruption["spot-interruption"].event_pattern)["detail-type"] == ["EC2 Spot Instance Interruption Warning"]
    error_message = "Read back, the spot rule must match interruption warnings."
  }

  assert {
    condition     = jsondecode(aws_iam_role.controller.assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/eks-cluster-arn"] == "arn:aws:eks:eu-west-1:111111111111:cluster/airflow-dev"
    error_message = "Read back, only Pod Identity of this cluster (in the emulated account) may assume the controller role."
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.controller.policy).Statement : s.Resource if s.Sid == "AllowPassingInstanceRole"]) == "arn:aws:iam::111111111111:role/airflow-dev-karpenter-node"
    error_message = "Read back, the controller may pass the node role only."
  }
}
