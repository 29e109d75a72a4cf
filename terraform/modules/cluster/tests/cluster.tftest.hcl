# Unit tests of the cluster module: plan only, against a mocked AWS provider (no credentials,
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
  target          = aws_kms_key.this
  override_during = plan
  values = {
    arn = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-0000000ce4e5"
  }
}

override_resource {
  target          = aws_iam_role.ebs_csi
  override_during = plan
  values = {
    arn = "arn:aws:iam::111111111111:role/airflow-dev-ebs-csi-controller"
  }
}

# dev's cluster.yaml cluster block.
variables {
  name                         = "airflow-dev"
  kubernetes_version           = "1.34"
  vpc_id                       = "vpc-0123456789abcdef0"
  subnet_ids                   = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
  admin_principal_arns         = ["arn:aws:iam::111111111111:role/platform-admin"]
  system_node_group = {
    instance_types = ["m7i.large"]
    min_size       = 2
    max_size       = 3
    desired_size   = 2
  }
  tags = { Environment = "dev" }
}

run "control_plane_is_private_encrypted_and_logged" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.name == "airflow-dev" && aws_eks_cluster.this.version == "1.34"
    error_message = "The cluster must be named after cluster.yaml cluster.name and run its Kubernetes version."
  }

  assert {
    condition = (
      aws_eks_cluster.this.access_config[0].authentication_mode == "API"
      && aws_eks_cluster.this.access_config[0].bootstrap_cluster_creator_admin_permissions == false
    )
    error_message = "Authentication must use access entries only, and the creator must get no implicit admin."
  }

  assert {
    condition = (
      aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true
      && aws_eks_cluster.this.vpc_config[0].endpoint_public_access == true
      && aws_eks_cluster.this.vpc_config[0].public_access_cidrs == toset(["203.0.113.0/24"])
    )
    error_message = "The private endpoint must be on and the public one limited to the operators' ranges."
  }

  assert {
    condition     = !contains(aws_eks_cluster.this.vpc_config[0].public_access_cidrs, "0.0.0.0/0")
    error_message = "The public endpoint must never be open to 0.0.0.0/0."
  }

  assert {
    condition = (
      aws_eks_cluster.this.encryption_config[0].resources == toset(["secrets"])
      && aws_eks_cluster.this.encryption_config[0].provider[0].key_arn == "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-0000000ce4e5"
    )
    error_message = "Kubernetes Secrets must be envelope-encrypted with the module's KMS key."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation == true
    error_message = "The cluster KMS key must rotate."
  }

  assert {
    condition     = aws_eks_cluster.this.enabled_cluster_log_types == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "All five control plane log types must be on."
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.cluster.name == "/aws/eks/airflow-dev/cluster"
      && aws_cloudwatch_log_group.cluster.kms_key_id == "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-0000000ce4e5"
      && aws_cloudwatch_log_group.cluster.retention_in_days >= 365
    )
    error_message = "Control plane logs must go to /aws/eks/<name>/cluster, KMS-encrypted, kept at least a year."
  }

  assert {
    condition     = aws_eks_cluster.this.bootstrap_self_managed_addons == false
    error_message = "EKS must not install self-managed add-ons next to the managed ones."
  }
}

run "policies_are_scoped" {
  command = plan

  assert {
    condition = alltrue([
      for s in concat(
        local.kms_policy_statements,
        local.cluster_assume_role_statements,
        local.node_assume_role_statements,
        local.ebs_csi_assume_role_statements,
        local.cluster_kms_statements,
      ) :
      !(contains(flatten([s.Action]), "*") && contains(flatten([lookup(s, "Resource", [])]), "*"))
    ])
    error_message = "No policy statement may allow action * on resource *."
  }

  assert {
    condition = alltrue([
      for s in local.kms_policy_statements :
      s.Principal == { AWS = "arn:aws:iam::111111111111:root" } if contains(flatten([s.Action]), "kms:*")
    ])
    error_message = "Only the account root statement of the key policy may grant kms:*."
  }

  assert {
    condition     = local.kms_policy_statements[1].Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-1:111111111111:log-group:/aws/eks/airflow-dev/cluster"
    error_message = "CloudWatch Logs may use the key for the control plane log group only."
  }

  assert {
    condition     = alltrue([for a in local.cluster_kms_statements[0].Action : !endswith(a, "*")])
    error_message = "The cluster role must get named KMS actions, no wildcards."
  }

  assert {
    condition = (
      local.ebs_csi_assume_role_statements[0].Condition.StringEquals["aws:RequestTag/kubernetes-namespace"] == "kube-system"
      && local.ebs_csi_assume_role_statements[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == "ebs-csi-controller-sa"
      && local.ebs_csi_assume_role_statements[0].Condition.StringEquals["aws:RequestTag/eks-cluster-arn"] == "arn:aws:eks:eu-west-1:111111111111:cluster/airflow-dev"
    )
    error_message = "Only kube-system/ebs-csi-controller-sa of this cluster may assume the EBS CSI role."
  }
}

run "access_entries_and_system_nodes" {
  command = plan

  assert {
    condition = (
      keys(aws_eks_access_policy_association.admin) == ["arn:aws:iam::111111111111:role/platform-admin"]
      && aws_eks_access_policy_association.admin["arn:aws:iam::111111111111:role/platform-admin"].policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
      && aws_eks_access_policy_association.admin["arn:aws:iam::111111111111:role/platform-admin"].access_scope[0].type == "cluster"
      && aws_eks_access_entry.admin["arn:aws:iam::111111111111:role/platform-admin"].type == "STANDARD"
    )
    error_message = "Each admin principal must get an access entry with AmazonEKSClusterAdminPolicy at cluster scope."
  }

  assert {
    condition = (
      aws_eks_node_group.system.node_group_name == "system"
      && aws_eks_node_group.system.scaling_config[0].min_size == 2
      && aws_eks_node_group.system.scaling_config[0].max_size == 3
      && aws_eks_node_group.system.scaling_config[0].desired_size == 2
      && aws_eks_node_group.system.instance_types == tolist(["m7i.large"])
      && aws_eks_node_group.system.capacity_type == "ON_DEMAND"
    )
    error_message = "The system node group must take its size and instance types from cluster.yaml, on demand."
  }

  assert {
    condition = (
      aws_eks_node_group.system.ami_type == "AL2023_x86_64_STANDARD"
      && aws_eks_node_group.system.labels["platform.airflow/pool"] == "system"
      && length(aws_eks_node_group.system.taint) == 0
      && aws_eks_node_group.system.subnet_ids == toset(var.subnet_ids)
    )
    error_message = "The system node group must run AL2023 in the private subnets, labelled platform.airflow/pool=system, untainted."
  }

  assert {
    condition = (
      aws_launch_template.system.metadata_options[0].http_tokens == "required"
      && aws_launch_template.system.metadata_options[0].http_put_response_hop_limit == 1
    )
    error_message = "Nodes must require IMDSv2 with a hop limit of 1, so pods cannot reach node credentials."
  }

  assert {
    condition = (
      aws_launch_template.system.block_device_mappings[0].ebs[0].encrypted == "true"
      && aws_launch_template.system.block_device_mappings[0].ebs[0].volume_type == "gp3"
    )
    error_message = "The root volume must be encrypted gp3."
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.node)) == toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly"])
    error_message = "The node role must have exactly the worker, CNI and ECR pull-only policies."
  }

  assert {
    condition     = aws_security_group.node.tags["karpenter.sh/discovery"] == "airflow-dev" && aws_security_group.node.tags["Environment"] == "dev"
    error_message = "The node security group must carry karpenter.sh/discovery = <cluster name> and var.tags."
  }

  assert {
    condition     = aws_security_group.node.tags["elbv2.k8s.aws/cluster"] == "airflow-dev" && aws_security_group.node.tags["kubernetes.io/cluster/airflow-dev"] == "owned"
    error_message = "The node security group must carry elbv2.k8s.aws/cluster = <cluster name>, the tag the Load Balancer Controller's policy requires before it opens target ports on it, and kubernetes.io/cluster/<cluster name>, by which it picks the group."
  }
}

run "addons_and_pod_identity" {
  command = plan

  variables {
    addon_versions = { coredns = "v1.13.2-eksbuild.99" }
  }

  assert {
    condition     = toset(concat(keys(aws_eks_addon.before_nodes), keys(aws_eks_addon.after_nodes))) == toset(["vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver"])
    error_message = "All five add-ons must be managed."
  }

  assert {
    condition     = toset(keys(aws_eks_addon.before_nodes)) == toset(["vpc-cni", "kube-proxy", "eks-pod-identity-agent"])
    error_message = "Pod networking, kube-proxy and the Pod Identity agent must exist before the nodes."
  }

  assert {
    condition     = jsondecode(aws_eks_addon.before_nodes["vpc-cni"].configuration_values).enableNetworkPolicy == "true"
    error_message = "The VPC CNI must enforce NetworkPolicy."
  }

  assert {
    condition     = aws_eks_addon.after_nodes["coredns"].addon_version == "v1.13.2-eksbuild.99" && aws_eks_addon.before_nodes["vpc-cni"].addon_version == local.addon_version_defaults["vpc-cni"]
    error_message = "addon_versions must override one add-on and leave the others at their defaults."
  }

  assert {
    condition = (
      aws_eks_pod_identity_association.ebs_csi.namespace == "kube-system"
      && aws_eks_pod_identity_association.ebs_csi.service_account == "ebs-csi-controller-sa"
      && aws_eks_pod_identity_association.ebs_csi.role_arn == "arn:aws:iam::111111111111:role/airflow-dev-ebs-csi-controller"
    )
    error_message = "The EBS CSI controller must get its role through a Pod Identity association."
  }
}

run "rejects_public_endpoint_open_to_the_internet" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}

run "rejects_internet_split_in_halves" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["0.0.0.0/1", "128.0.0.0/1"]
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}

run "rejects_bad_node_group_sizes" {
  command = plan

  variables {
    system_node_group = {
      instance_types = ["m7i.large"]
      min_size       = 3
      max_size       = 2
      desired_size   = 2
    }
  }

  expect_failures = [var.system_node_group]
}

run "warns_when_defaults_do_not_fit_the_version" {
  command = plan

  variables {
    kubernetes_version = "1.35"
  }

  expect_failures = [check.addon_versions_fit_kubernetes_version]
}

run "every_role_carries_the_boundary_and_the_prefix" {
  command = plan

  variables {
    permissions_boundary_arn = "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary"
  }

  assert {
    condition     = alltrue([for r in [aws_iam_role.cluster, aws_iam_role.node, aws_iam_role.ebs_csi] : r.permissions_boundary == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary" && startswith(r.name, "airflow-dev-")])
    error_message = "Every role of the module must carry the platform's permissions boundary and its name prefix airflow-dev-."
  }
}
