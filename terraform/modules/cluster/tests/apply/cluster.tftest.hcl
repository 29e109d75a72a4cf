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
    ec2  = var.aws_endpoint
    eks  = var.aws_endpoint
    iam  = var.aws_endpoint
    kms  = var.aws_endpoint
    logs = var.aws_endpoint
    sts  = var.aws_endpoint
  }
}

# The emulator has no EKS add-ons, access entries, access policy associations or Pod Identity
# associations: these are not sent to it. Their arguments are still the module's (the real
# cluster name and role ARNs go in); tests/cluster.tftest.hcl covers them in plan mode.
override_resource {
  target = aws_eks_addon.before_nodes
  values = {
    arn = "arn:aws:eks:eu-west-1:111111111111:addon/airflow-dev/before-nodes/00000000-0000-0000-0000-000000000000"
  }
}

override_resource {
  target = aws_eks_addon.after_nodes
  values = {
    arn = "arn:aws:eks:eu-west-1:111111111111:addon/airflow-dev/after-nodes/00000000-0000-0000-0000-000000000000"
  }
}

override_resource {
  target = aws_eks_access_entry.admin
  values = {
    access_entry_arn = "arn:aws:eks:eu-west-1:111111111111:access-entry/airflow-dev/role/111111111111/platform-admin/00000000-0000-0000-0000-000000000000"
  }
}

override_resource {
  target = aws_eks_access_policy_association.admin
  values = {}
}

override_resource {
  target = aws_eks_pod_identity_association.ebs_csi
  values = {
    association_arn = "arn:aws:eks:eu-west-1:111111111111:podidentityassociation/airflow-dev/a-0000000000000000"
    association_id  = "a-0000000000000000"
  }
}

# dev's cluster.yaml cluster block.
variables {
  name                         = "airflow-dev"
  kubernetes_version           = "1.34"
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
  admin_principal_arns         = ["arn:aws:iam::111111111111:role/platform-admin"]
  system_node_group = {
    instance_types = ["m7i.large"]
    min_size       = 2
    max_size       = 3
    desired_size   = 2
  }
  kms_key_deletion_window_days = 7
  tags                         = { Environment = "dev" }
}

# The VPC and private subnets come from the network module, as in the platform; two zones (the
# fewest EKS accepts) and no interface endpoints keep this setup short.
run "network" {
  command = apply

  module {
    source = "../network"
  }

  variables {
    name                         = "airflow-dev"
    vpc_cidr                     = "10.10.0.0/16"
    availability_zones           = 2
    single_nat_gateway           = true
    interface_endpoints          = []
    kms_key_deletion_window_days = 7
  }
}

run "apply" {
  command = apply

  variables {
    vpc_id     = run.network.vpc_id
    subnet_ids = run.network.private_subnet_ids
  }

  assert {
    condition     = output.cluster_name == "airflow-dev" && output.cluster_arn == "arn:aws:eks:eu-west-1:111111111111:cluster/airflow-dev" && output.cluster_version == "1.34"
    error_message = "The cluster must be named after cluster.yaml, in the emulated account (MOTO_ACCOUNT_ID=111111111111), on Kubernetes 1.34."
  }

  assert {
    condition     = one(aws_eks_cluster.this.vpc_config).security_group_ids == toset([aws_security_group.cluster.id]) && one(aws_eks_cluster.this.vpc_config).subnet_ids == toset(run.network.private_subnet_ids)
    error_message = "The control plane must sit in the private subnets, with the module's own cluster security group."
  }

  assert {
    condition     = one(one(aws_eks_cluster.this.encryption_config).provider).key_arn == aws_kms_key.this.arn && startswith(aws_kms_key.this.arn, "arn:aws:kms:eu-west-1:111111111111:key/")
    error_message = "Kubernetes Secrets must be encrypted with the module's key."
  }

  assert {
    condition     = aws_eks_cluster.this.role_arn == "arn:aws:iam::111111111111:role/airflow-dev-cluster" && output.node_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-system-node" && output.ebs_csi_driver_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-ebs-csi-controller"
    error_message = "The control plane, node and EBS CSI roles must be named after the cluster."
  }

  assert {
    condition     = aws_eks_node_group.system.node_group_name == "system" && aws_eks_node_group.system.node_role_arn == aws_iam_role.node.arn && one(aws_eks_node_group.system.launch_template).id == aws_launch_template.system.id && aws_eks_node_group.system.subnet_ids == toset(run.network.private_subnet_ids)
    error_message = "The system node group must use the node role and the module's launch template, in the private subnets."
  }

  assert {
    condition     = aws_eks_access_entry.admin["arn:aws:iam::111111111111:role/platform-admin"].cluster_name == "airflow-dev" && aws_eks_pod_identity_association.ebs_csi.role_arn == aws_iam_role.ebs_csi.arn && length(aws_eks_addon.before_nodes) == 3 && length(aws_eks_addon.after_nodes) == 2
    error_message = "The (not emulated) access entry, Pod Identity association and add-ons must name the real cluster and role."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  variables {
    vpc_id     = run.network.vpc_id
    subnet_ids = run.network.private_subnet_ids
  }

  assert {
    condition     = aws_eks_cluster.this.arn == "arn:aws:eks:eu-west-1:111111111111:cluster/airflow-dev" && one(aws_eks_cluster.this.vpc_config).security_group_ids == toset([aws_security_group.cluster.id])
    error_message = "Read back, the cluster must carry the module's cluster security group."
  }

  assert {
    condition     = one(aws_eks_cluster.this.vpc_config).endpoint_private_access && one(aws_eks_cluster.this.vpc_config).public_access_cidrs == toset(["203.0.113.0/24"])
    error_message = "Read back, the API must be reachable privately, and publicly from the operators' range only."
  }

  assert {
    condition     = toset(aws_eks_cluster.this.enabled_cluster_log_types) == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"]) && aws_cloudwatch_log_group.cluster.name == "/aws/eks/airflow-dev/cluster" && aws_cloudwatch_log_group.cluster.kms_key_id == aws_kms_key.this.arn
    error_message = "Read back, every control plane log must go to the encrypted /aws/eks/<cluster>/cluster group."
  }

  assert {
    condition     = aws_security_group.node.tags["karpenter.sh/discovery"] == "airflow-dev" && aws_security_group.node.tags["kubernetes.io/cluster/airflow-dev"] == "owned" && aws_security_group.node.tags["elbv2.k8s.aws/cluster"] == "airflow-dev" && aws_security_group.node.vpc_id == run.network.vpc_id
    error_message = "Read back, the node security group must carry the tags Karpenter and the load balancer controller select it by."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.cluster_from_nodes.referenced_security_group_id == aws_security_group.node.id && aws_vpc_security_group_ingress_rule.cluster_from_nodes.from_port == 443 && aws_vpc_security_group_ingress_rule.node_from_cluster_ephemeral.referenced_security_group_id == aws_security_group.cluster.id
    error_message = "Read back, the nodes must reach the API server on 443 and the control plane the kubelets."
  }

  assert {
    condition     = one(aws_launch_template.system.metadata_options).http_tokens == "required" && one(aws_launch_template.system.metadata_options).http_put_response_hop_limit == 1 && one(one(aws_launch_template.system.block_device_mappings).ebs).encrypted == "true"
    error_message = "Read back, the system nodes must require IMDSv2 with hop limit 1 and have encrypted root volumes."
  }

  assert {
    condition     = one(aws_eks_node_group.system.scaling_config).min_size == 2 && one(aws_eks_node_group.system.scaling_config).desired_size == 2 && one(aws_eks_node_group.system.scaling_config).max_size == 3 && aws_eks_node_group.system.labels["platform.airflow/pool"] == "system"
    error_message = "Read back, the system node group must keep dev's size and its pool label."
  }
}
