data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  # EKS add-on versions. The defaults are pinned for the Kubernetes version below; each carries a
  # `# renovate:` comment that a Renovate regex manager with the aws-eks-addon datasource can read
  # (see README.md). An entry in var.addon_versions overrides one default.
  addon_defaults_kubernetes_version = "1.34"
  addon_version_defaults = {
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"vpc-cni"}
    "vpc-cni" = "v1.22.4-eksbuild.3"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"kube-proxy"}
    "kube-proxy" = "v1.34.6-eksbuild.17"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"eks-pod-identity-agent"}
    "eks-pod-identity-agent" = "v1.3.10-eksbuild.3"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"coredns"}
    "coredns" = "v1.13.2-eksbuild.11"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"aws-ebs-csi-driver"}
    "aws-ebs-csi-driver" = "v1.63.0-eksbuild.1"
  }
  addon_versions = merge(local.addon_version_defaults, var.addon_versions)

  # before_nodes: DaemonSets the nodes need to become Ready (pod networking, service routing,
  # Pod Identity credentials); created before the node group. The others are Deployments that
  # only turn healthy once nodes exist; created after it.
  addons = {
    "vpc-cni" = {
      before_nodes = true
      # The VPC CNI's network policy agent enforces Kubernetes NetworkPolicy objects.
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    "kube-proxy" = {
      before_nodes         = true
      configuration_values = null
    }
    "eks-pod-identity-agent" = {
      before_nodes         = true
      configuration_values = null
    }
    "coredns" = {
      before_nodes         = false
      configuration_values = null
    }
    "aws-ebs-csi-driver" = {
      before_nodes         = false
      configuration_values = null
    }
  }

  cluster_log_types     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cluster_log_group     = "/aws/eks/${var.name}/cluster"
  cluster_log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.cluster_log_group}"

  # Built rather than read from the cluster, so that the trust policy does not wait for it.
  cluster_arn = "arn:${local.partition}:eks:${local.region}:${local.account_id}:cluster/${var.name}"

  cluster_admin_policy_arn = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  # Tags the cluster side relies on: Karpenter selects the node security group by the discovery
  # tag; the load balancer controller picks the one security group of a node that carries the
  # cluster tag when it opens traffic from an ALB to pods, and its IAM policy lets it add and remove
  # ingress rules only on groups tagged elbv2.k8s.aws/cluster = <cluster> (the platform module's
  # load-balancer-controller policy), so the node group carries that tag too.
  node_security_group_tags = {
    "karpenter.sh/discovery"            = var.name
    "kubernetes.io/cluster/${var.name}" = "owned"
    "elbv2.k8s.aws/cluster"             = var.name
  }

  ebs_csi_namespace       = "kube-system"
  ebs_csi_service_account = "ebs-csi-controller-sa"

  ##############################################################################
  # Policy statements. Kept as plain data so that the tests can inspect them.
  ##############################################################################

  # Key policy of the cluster key. The account root statement delegates key administration to IAM
  # (the AWS default key policy); the cluster role reaches the key through its IAM policy below.
  # CloudWatch Logs may use the key for the control plane log group only.
  kms_policy_statements = [
    {
      Sid       = "AccountRootManagesKeyThroughIAM"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    },
    {
      Sid       = "CloudWatchLogsUseForControlPlaneLogs"
      Effect    = "Allow"
      Principal = { Service = "logs.${local.region}.amazonaws.com" }
      Action = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
      ]
      Resource = "*"
      Condition = {
        ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.cluster_log_group_arn }
      }
    },
  ]

  cluster_assume_role_statements = [
    {
      Sid       = "EksControlPlaneAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    },
  ]

  # Envelope encryption of Kubernetes Secrets with the cluster key.
  cluster_kms_statements = [
    {
      Sid      = "EnvelopeEncryptSecrets"
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
      Resource = aws_kms_key.this.arn
    },
  ]

  node_assume_role_statements = [
    {
      Sid       = "Ec2AssumeRole"
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    },
  ]

  # Only the EBS CSI controller's service account in this cluster can get this role.
  ebs_csi_assume_role_statements = [
    {
      Sid       = "EksPodIdentityAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        StringEquals = {
          "aws:RequestTag/eks-cluster-arn"            = local.cluster_arn
          "aws:RequestTag/kubernetes-namespace"       = local.ebs_csi_namespace
          "aws:RequestTag/kubernetes-service-account" = local.ebs_csi_service_account
        }
      }
    },
  ]

  node_managed_policies = {
    AmazonEKSWorkerNodePolicy          = "arn:${local.partition}:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    AmazonEKS_CNI_Policy               = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
    AmazonEC2ContainerRegistryPullOnly = "arn:${local.partition}:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"
  }
}

# The default add-on versions only fit the Kubernetes version they were chosen for. Warn (without
# failing the plan) when the cluster moves on and some add-on still uses a default.
check "addon_versions_fit_kubernetes_version" {
  assert {
    condition     = var.kubernetes_version == local.addon_defaults_kubernetes_version || length(setsubtract(keys(local.addon_version_defaults), keys(var.addon_versions))) == 0
    error_message = "The default add-on versions are for Kubernetes ${local.addon_defaults_kubernetes_version}, but kubernetes_version is ${var.kubernetes_version}. Set addon_versions for every add-on, or update the defaults."
  }
}

################################################################################
# KMS key: Kubernetes Secrets and the control plane log group
################################################################################

resource "aws_kms_key" "this" {
  description             = "Encrypts Kubernetes Secrets and control plane logs of EKS cluster ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_policy_statements })

  tags = merge(var.tags, { Name = "${var.name}-eks" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-eks"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Control plane
################################################################################

# Created before the cluster so that EKS writes into an encrypted group with a retention instead of
# creating an unencrypted one that never expires.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = local.cluster_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = merge(var.tags, { Name = local.cluster_log_group })
}

resource "aws_iam_role" "cluster" {
  name                 = "${var.name}-cluster"
  description          = "EKS control plane of ${var.name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.cluster_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role_policy" "cluster_kms" {
  name   = "secrets-envelope-encryption"
  role   = aws_iam_role.cluster.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.cluster_kms_statements })
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_39:The public endpoint is on by design so operators and CI can reach the API without a VPN; it is limited to var.endpoint_public_access_cidrs and nodes use the private endpoint.
  #checkov:skip=CKV_AWS_38:public_access_cidrs comes from var.endpoint_public_access_cidrs, whose validation refuses 0.0.0.0/0 and any prefix shorter than /8 (proven by the tests); checkov cannot see the variable's value.
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  # The add-ons below are EKS add-ons managed here; EKS must not install its self-managed copies.
  bootstrap_self_managed_addons = false
  enabled_cluster_log_types     = local.cluster_log_types

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.this.arn
    }
  }

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = true
    public_access_cidrs     = var.endpoint_public_access_cidrs
    security_group_ids      = [aws_security_group.cluster.id]
  }

  upgrade_policy {
    support_type = var.support_type
  }

  tags = merge(var.tags, { Name = var.name })

  depends_on = [
    aws_cloudwatch_log_group.cluster,
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_kms,
  ]
}

################################################################################
# Access entries: administrators
################################################################################

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = local.cluster_admin_policy_arn

  access_scope {
    type = "cluster"
  }
}

################################################################################
# Cluster security group: on the control plane's network interfaces, with the rules to the nodes
################################################################################

# Ours rather than the one EKS creates, so that every rule between the control plane and the nodes
# is declared here, from the first apply, and the group's lifetime is the module's.
resource "aws_security_group" "cluster" {
  name_prefix = "${var.name}-cluster-"
  description = "Control plane network interfaces of EKS cluster ${var.name}"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-cluster" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "cluster_to_nodes_https" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "Control plane to webhooks listening on 443"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.node.id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "cluster_to_nodes_ephemeral" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "Control plane to kubelets (10250) and to webhooks and API services on high ports"
  ip_protocol                  = "tcp"
  from_port                    = 1025
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.node.id

  tags = var.tags
}

################################################################################
# Node security group: the system node group and Karpenter's nodes
################################################################################

resource "aws_security_group" "node" {
  name_prefix = "${var.name}-node-"
  description = "Nodes of EKS cluster ${var.name} (system node group and Karpenter nodes)"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-node" }, local.node_security_group_tags)

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "node_self" {
  security_group_id            = aws_security_group.node.id
  description                  = "Node to node and pod to pod, all protocols"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.node.id

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "node_from_cluster_https" {
  security_group_id            = aws_security_group.node.id
  description                  = "Control plane to webhooks listening on 443"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.cluster.id

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "node_from_cluster_ephemeral" {
  #checkov:skip=CKV_AWS_25:The source is the cluster security group (the control plane), not 0.0.0.0/0; the port range is what kubelets, webhooks and aggregated API services need.
  security_group_id            = aws_security_group.node.id
  description                  = "Control plane to kubelets (10250) and to webhooks and API services on high ports"
  ip_protocol                  = "tcp"
  from_port                    = 1025
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.cluster.id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "node_all" {
  security_group_id = aws_security_group.node.id
  description       = "Nodes and pods to the control plane, VPC endpoints, and through NAT to image registries and AWS APIs"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

# Let the nodes reach the API server.
resource "aws_vpc_security_group_ingress_rule" "cluster_from_nodes" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "Nodes and pods to the Kubernetes API server"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.node.id

  tags = var.tags
}

################################################################################
# System managed node group
################################################################################

resource "aws_iam_role" "node" {
  name                 = "${var.name}-system-node"
  description          = "Nodes of the system managed node group of ${var.name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.node_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = local.node_managed_policies

  role       = aws_iam_role.node.name
  policy_arn = each.value
}

resource "aws_launch_template" "system" {
  name_prefix            = "${var.name}-system-"
  description            = "System managed node group of ${var.name}"
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.node.id]

  # IMDSv2 only, hop limit 1: a pod (one network hop further) cannot reach the node's credentials;
  # workloads get AWS access through Pod Identity.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_protocol_ipv6          = "disabled"
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.system_node_group.disk_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  dynamic "tag_specifications" {
    for_each = ["instance", "volume", "network-interface"]

    content {
      resource_type = tag_specifications.value
      tags          = merge(var.tags, { Name = "${var.name}-system" })
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_eks_node_group" "system" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "system"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  version         = aws_eks_cluster.this.version

  ami_type       = var.system_node_group.ami_type
  capacity_type  = "ON_DEMAND"
  instance_types = var.system_node_group.instance_types

  scaling_config {
    min_size     = var.system_node_group.min_size
    max_size     = var.system_node_group.max_size
    desired_size = var.system_node_group.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.system.id
    version = aws_launch_template.system.latest_version
  }

  node_repair_config {
    enabled = true
  }

  # No taint: Karpenter and the first add-ons must schedule here without tolerations.
  labels = {
    "platform.airflow/pool" = "system"
  }

  tags = merge(var.tags, { Name = "${var.name}-system" })

  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.before_nodes,
    aws_vpc_security_group_ingress_rule.cluster_from_nodes,
  ]
}

################################################################################
# Add-ons
################################################################################

resource "aws_eks_addon" "before_nodes" {
  for_each = { for k, v in local.addons : k => v if v.before_nodes }

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = local.addon_versions[each.key]
  configuration_values        = each.value.configuration_values
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  tags = var.tags
}

resource "aws_eks_addon" "after_nodes" {
  for_each = { for k, v in local.addons : k => v if !v.before_nodes }

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = local.addon_versions[each.key]
  configuration_values        = each.value.configuration_values
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  tags = var.tags

  depends_on = [
    aws_eks_node_group.system,
    aws_eks_pod_identity_association.ebs_csi,
  ]
}

################################################################################
# EBS CSI driver controller identity (Pod Identity)
################################################################################

resource "aws_iam_role" "ebs_csi" {
  name                 = "${var.name}-ebs-csi-controller"
  description          = "EBS CSI driver controller (${local.ebs_csi_namespace}/${local.ebs_csi_service_account}) of ${var.name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.ebs_csi_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

resource "aws_eks_pod_identity_association" "ebs_csi" {
  cluster_name    = aws_eks_cluster.this.name
  namespace       = local.ebs_csi_namespace
  service_account = local.ebs_csi_service_account
  role_arn        = aws_iam_role.ebs_csi.arn

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.ebs_csi]
}
