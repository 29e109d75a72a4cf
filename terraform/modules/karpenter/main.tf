data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  # Names fixed by terraform/README.md (Conventions); apps/karpenter (EC2NodeClass role, settings.interruptionQueue)
  # and cluster.yaml workload_identities (role `<cluster>-<workload key>`) use the same ones.
  node_role_name       = "${var.cluster_name}-karpenter-node"
  controller_role_name = "${var.cluster_name}-karpenter"
  queue_name           = "${var.cluster_name}-karpenter"

  cluster_arn     = "arn:${local.partition}:eks:${local.region}:${local.account_id}:cluster/${var.cluster_name}"
  ec2_arn         = "arn:${local.partition}:ec2:${local.region}"
  profile_arn     = "arn:${local.partition}:iam::${local.account_id}:instance-profile/*"
  cluster_tag_key = "kubernetes.io/cluster/${var.cluster_name}"

  node_managed_policies = {
    AmazonEKSWorkerNodePolicy          = "arn:${local.partition}:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    AmazonEKS_CNI_Policy               = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
    AmazonEC2ContainerRegistryPullOnly = "arn:${local.partition}:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"
    AmazonSSMManagedInstanceCore       = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
  }

  node_assume_role_statements = [
    {
      Sid       = "Ec2AssumeRole"
      Effect    = "Allow"
      Principal = { Service = "ec2.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
    },
  ]

  # Only Karpenter's service account in this cluster can get the controller role.
  controller_assume_role_statements = [
    {
      Sid       = "EksPodIdentityAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        StringEquals = {
          "aws:RequestTag/eks-cluster-arn"            = local.cluster_arn
          "aws:RequestTag/kubernetes-namespace"       = var.namespace
          "aws:RequestTag/kubernetes-service-account" = var.service_account
        }
      }
    },
  ]

  # The controller policy of Karpenter v1, following the reference CloudFormation template of
  # Karpenter v1.14 (five managed policies there, one inline policy here). Every write action is
  # tied to this cluster by tag conditions, iam:PassRole to the node role, SQS to the queue.
  controller_policy_statements = [
    # NodeLifecyclePolicy
    {
      Sid    = "AllowScopedEC2InstanceAccessActions"
      Effect = "Allow"
      Action = ["ec2:RunInstances", "ec2:CreateFleet"]
      Resource = [
        "arn:${local.partition}:ec2:${local.region}::image/*",
        "arn:${local.partition}:ec2:${local.region}::snapshot/*",
        "${local.ec2_arn}:*:security-group/*",
        "${local.ec2_arn}:*:subnet/*",
        "${local.ec2_arn}:*:capacity-reservation/*",
        "${local.ec2_arn}:*:placement-group/*",
      ]
    },
    {
      Sid      = "AllowScopedEC2LaunchTemplateAccessActions"
      Effect   = "Allow"
      Action   = ["ec2:RunInstances", "ec2:CreateFleet"]
      Resource = "${local.ec2_arn}:*:launch-template/*"
      Condition = {
        StringEquals = { "aws:ResourceTag/${local.cluster_tag_key}" = "owned" }
        StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
      }
    },
    {
      Sid    = "AllowScopedEC2InstanceActionsWithTags"
      Effect = "Allow"
      Action = ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"]
      Resource = [
        "${local.ec2_arn}:*:fleet/*",
        "${local.ec2_arn}:*:instance/*",
        "${local.ec2_arn}:*:volume/*",
        "${local.ec2_arn}:*:network-interface/*",
        "${local.ec2_arn}:*:launch-template/*",
        "${local.ec2_arn}:*:spot-instances-request/*",
      ]
      Condition = {
        StringEquals = {
          "aws:RequestTag/${local.cluster_tag_key}" = "owned"
          "aws:RequestTag/eks:eks-cluster-name"     = var.cluster_name
        }
        StringLike = { "aws:RequestTag/karpenter.sh/nodepool" = "*" }
      }
    },
    {
      Sid    = "AllowScopedResourceCreationTagging"
      Effect = "Allow"
      Action = "ec2:CreateTags"
      Resource = [
        "${local.ec2_arn}:*:fleet/*",
        "${local.ec2_arn}:*:instance/*",
        "${local.ec2_arn}:*:volume/*",
        "${local.ec2_arn}:*:network-interface/*",
        "${local.ec2_arn}:*:launch-template/*",
        "${local.ec2_arn}:*:spot-instances-request/*",
      ]
      Condition = {
        StringEquals = {
          "aws:RequestTag/${local.cluster_tag_key}" = "owned"
          "aws:RequestTag/eks:eks-cluster-name"     = var.cluster_name
          "ec2:CreateAction"                        = ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
        }
        StringLike = { "aws:RequestTag/karpenter.sh/nodepool" = "*" }
      }
    },
    {
      Sid      = "AllowScopedResourceTagging"
      Effect   = "Allow"
      Action   = "ec2:CreateTags"
      Resource = "${local.ec2_arn}:*:instance/*"
      Condition = {
        StringEquals                = { "aws:ResourceTag/${local.cluster_tag_key}" = "owned" }
        StringLike                  = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
        StringEqualsIfExists        = { "aws:RequestTag/eks:eks-cluster-name" = var.cluster_name }
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"] }
      }
    },
    {
      Sid      = "AllowScopedDeletion"
      Effect   = "Allow"
      Action   = ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"]
      Resource = ["${local.ec2_arn}:*:instance/*", "${local.ec2_arn}:*:launch-template/*"]
      Condition = {
        StringEquals = { "aws:ResourceTag/${local.cluster_tag_key}" = "owned" }
        StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
      }
    },
    # IAMIntegrationPolicy
    {
      Sid      = "AllowPassingInstanceRole"
      Effect   = "Allow"
      Action   = "iam:PassRole"
      Resource = aws_iam_role.node.arn
      Condition = {
        StringEquals = { "iam:PassedToService" = distinct(["ec2.amazonaws.com", "ec2.${local.dns_suffix}"]) }
      }
    },
    {
      Sid      = "AllowScopedInstanceProfileCreationActions"
      Effect   = "Allow"
      Action   = "iam:CreateInstanceProfile"
      Resource = local.profile_arn
      Condition = {
        StringEquals = {
          "aws:RequestTag/${local.cluster_tag_key}"      = "owned"
          "aws:RequestTag/eks:eks-cluster-name"          = var.cluster_name
          "aws:RequestTag/topology.kubernetes.io/region" = local.region
        }
        StringLike = { "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass" = "*" }
      }
    },
    {
      Sid      = "AllowScopedInstanceProfileTagActions"
      Effect   = "Allow"
      Action   = "iam:TagInstanceProfile"
      Resource = local.profile_arn
      Condition = {
        StringEquals = {
          "aws:ResourceTag/${local.cluster_tag_key}"      = "owned"
          "aws:ResourceTag/topology.kubernetes.io/region" = local.region
          "aws:RequestTag/${local.cluster_tag_key}"       = "owned"
          "aws:RequestTag/eks:eks-cluster-name"           = var.cluster_name
          "aws:RequestTag/topology.kubernetes.io/region"  = local.region
        }
        StringLike = {
          "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass" = "*"
          "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass"  = "*"
        }
      }
    },
    {
      Sid      = "AllowScopedInstanceProfileActions"
      Effect   = "Allow"
      Action   = ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"]
      Resource = local.profile_arn
      Condition = {
        StringEquals = {
          "aws:ResourceTag/${local.cluster_tag_key}"      = "owned"
          "aws:ResourceTag/topology.kubernetes.io/region" = local.region
        }
        StringLike = { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass" = "*" }
      }
    },
    # EKSIntegrationPolicy
    {
      Sid      = "AllowAPIServerEndpointDiscovery"
      Effect   = "Allow"
      Action   = "eks:DescribeCluster"
      Resource = local.cluster_arn
    },
    # InterruptionPolicy
    {
      Sid      = "AllowInterruptionQueueActions"
      Effect   = "Allow"
      Action   = ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
      Resource = aws_sqs_queue.interruption.arn
    },
    # ZonalShiftPolicy
    {
      Sid      = "AllowZonalShiftStatusReadOnly"
      Effect   = "Allow"
      Action   = "arc-zonal-shift:GetManagedResource"
      Resource = "*"
      Condition = {
        StringEquals = { "arc-zonal-shift:ResourceIdentifier" = local.cluster_arn }
      }
    },
    # ResourceDiscoveryPolicy: read-only calls that IAM cannot scope to a resource.
    {
      Sid    = "AllowRegionalReadActions"
      Effect = "Allow"
      Action = [
        "ec2:DescribeCapacityReservations",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribePlacementGroups",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSpotPriceHistory",
        "ec2:DescribeSubnets",
      ]
      Resource = "*"
      Condition = {
        StringEquals = { "aws:RequestedRegion" = local.region }
      }
    },
    {
      Sid      = "AllowSSMReadActions"
      Effect   = "Allow"
      Action   = "ssm:GetParameter"
      Resource = "arn:${local.partition}:ssm:${local.region}::parameter/aws/service/*"
    },
    {
      Sid      = "AllowPricingReadActions"
      Effect   = "Allow"
      Action   = "pricing:GetProducts"
      Resource = "*"
    },
    {
      Sid      = "AllowUnscopedInstanceProfileListAction"
      Effect   = "Allow"
      Action   = "iam:ListInstanceProfiles"
      Resource = "*"
    },
    {
      Sid      = "AllowInstanceProfileReadActions"
      Effect   = "Allow"
      Action   = "iam:GetInstanceProfile"
      Resource = local.profile_arn
    },
  ]

  # EventBridge delivers the events Karpenter acts on ahead of time (drain before the node goes).
  interruption_rules = {
    health-event = {
      description = "AWS Health events (scheduled maintenance of instances)"
      pattern     = { source = ["aws.health"], "detail-type" = ["AWS Health Event"] }
    }
    spot-interruption = {
      description = "EC2 Spot Instance interruption warnings (two-minute notice)"
      pattern     = { source = ["aws.ec2"], "detail-type" = ["EC2 Spot Instance Interruption Warning"] }
    }
    rebalance = {
      description = "EC2 instance rebalance recommendations (elevated Spot interruption risk)"
      pattern     = { source = ["aws.ec2"], "detail-type" = ["EC2 Instance Rebalance Recommendation"] }
    }
    instance-state-change = {
      description = "EC2 instance state changes (stopping, terminated)"
      pattern     = { source = ["aws.ec2"], "detail-type" = ["EC2 Instance State-change Notification"] }
    }
    capacity-reservation = {
      description = "EC2 capacity reservation instance interruption warnings"
      pattern     = { source = ["aws.ec2"], "detail-type" = ["EC2 Capacity Reservation Instance Interruption Warning"] }
    }
  }

  queue_policy_statements = [
    {
      Sid       = "EventBridgeSendsInterruptionEvents"
      Effect    = "Allow"
      Principal = { Service = ["events.amazonaws.com", "sqs.amazonaws.com"] }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.interruption.arn
    },
    {
      Sid       = "DenyNonTLS"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.interruption.arn
      Condition = {
        Bool = { "aws:SecureTransport" = "false" }
      }
    },
  ]
}

################################################################################
# Node role: the role of the instances Karpenter launches (EC2NodeClass `role`)
################################################################################

resource "aws_iam_role" "node" {
  name                 = local.node_role_name
  description          = "Nodes that Karpenter launches for EKS cluster ${var.cluster_name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.node_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = local.node_managed_policies

  role       = aws_iam_role.node.name
  policy_arn = each.value
}

# Lets instances with the node role join the cluster (authentication mode API, no aws-auth).
resource "aws_eks_access_entry" "node" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.node.arn
  type          = "EC2_LINUX"

  tags = var.tags
}

################################################################################
# Interruption queue and the EventBridge rules that feed it
################################################################################

resource "aws_sqs_queue" "interruption" {
  name                      = local.queue_name
  message_retention_seconds = 300
  # SQS-managed encryption: EventBridge can write to it without a key policy grant, which a
  # customer managed KMS key would need.
  sqs_managed_sse_enabled = true

  tags = var.tags
}

resource "aws_sqs_queue_policy" "interruption" {
  queue_url = aws_sqs_queue.interruption.url
  policy    = jsonencode({ Version = "2012-10-17", Id = "KarpenterInterruptionQueue", Statement = local.queue_policy_statements })
}

resource "aws_cloudwatch_event_rule" "interruption" {
  for_each = local.interruption_rules

  name          = "${var.cluster_name}-karpenter-${each.key}"
  description   = "Karpenter (${var.cluster_name}): ${each.value.description}"
  event_pattern = jsonencode(each.value.pattern)

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "interruption" {
  for_each = local.interruption_rules

  rule      = aws_cloudwatch_event_rule.interruption[each.key].name
  target_id = "KarpenterInterruptionQueue"
  arn       = aws_sqs_queue.interruption.arn
}

################################################################################
# Controller role, bound to the service account through Pod Identity
################################################################################

resource "aws_iam_role" "controller" {
  name                 = local.controller_role_name
  description          = "Karpenter controller (${var.namespace}/${var.service_account}) of EKS cluster ${var.cluster_name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.controller_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy" "controller" {
  name   = "karpenter-controller"
  role   = aws_iam_role.controller.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.controller_policy_statements })
}

resource "aws_eks_pod_identity_association" "controller" {
  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.controller.arn

  tags = var.tags

  depends_on = [aws_iam_role_policy.controller]
}
