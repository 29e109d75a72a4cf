# Unit tests of the network module: plan only, against a mocked AWS provider (no credentials,
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

  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      zone_ids = ["euw1-az3", "euw1-az1", "euw1-az2"]
    }
  }
}

# The computed ARN of the flow log key, known at plan time so that the log group can be checked
# against it.
override_resource {
  target          = aws_kms_key.flow_logs
  override_during = plan
  values = {
    arn = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-00000000f10e"
  }
}

# dev's cluster.yaml network block.
variables {
  name               = "airflow-dev"
  vpc_cidr           = "10.10.0.0/16"
  availability_zones = 3
  single_nat_gateway = true
  tags               = { Environment = "dev" }
}

run "dev_layout_and_contract_tags" {
  command = plan

  assert {
    condition     = aws_vpc.this.tags["Name"] == "airflow-dev" && aws_vpc.this.tags["Environment"] == "dev"
    error_message = "The VPC must be tagged Name = <cluster name> (the load balancer controller finds it by that tag) and carry var.tags."
  }

  assert {
    condition     = output.availability_zones == tolist(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    error_message = "The first three opt-in-free zones must be used, in order."
  }

  assert {
    condition     = aws_subnet.private[*].cidr_block == ["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19"]
    error_message = "Private subnets must be the first /19 blocks of the /16, one per zone."
  }

  assert {
    condition     = aws_subnet.public[*].cidr_block == ["10.10.224.0/24", "10.10.225.0/24", "10.10.226.0/24"]
    error_message = "Public subnets must be /24s from the last /19 block of the /16."
  }

  assert {
    condition = alltrue([
      for s in aws_subnet.private :
      s.tags["kubernetes.io/role/internal-elb"] == "1" && s.tags["karpenter.sh/discovery"] == "airflow-dev"
    ])
    error_message = "Every private subnet must carry kubernetes.io/role/internal-elb = 1 and karpenter.sh/discovery = <cluster name>."
  }

  assert {
    condition = alltrue([
      for s in aws_subnet.public :
      s.tags["kubernetes.io/role/elb"] == "1" && !contains(keys(s.tags), "karpenter.sh/discovery") && s.map_public_ip_on_launch == false
    ])
    error_message = "Public subnets must carry kubernetes.io/role/elb = 1, never the Karpenter discovery tag, and hand out no public IPs."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_eip.nat) == 1 && local.private_route_nat_index == [0, 0, 0]
    error_message = "single_nat_gateway = true must give one NAT gateway that every private route table uses."
  }

  assert {
    condition     = length(aws_route_table.private) == 3 && length(aws_route.private_nat) == 3
    error_message = "There must be one private route table (with a default route) per zone."
  }
}

run "prod_nat_per_zone" {
  command = plan

  variables {
    name               = "airflow-prod"
    vpc_cidr           = "10.30.0.0/16"
    single_nat_gateway = false
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_eip.nat) == 3
    error_message = "single_nat_gateway = false must give one NAT gateway per zone."
  }

  assert {
    condition     = local.private_route_nat_index == [0, 1, 2]
    error_message = "Each zone's private route table must use the NAT gateway of its own zone."
  }

  assert {
    condition     = aws_vpc.this.tags["Name"] == "airflow-prod" && aws_subnet.private[0].tags["karpenter.sh/discovery"] == "airflow-prod"
    error_message = "Names and discovery tags must follow the cluster name."
  }
}

run "encryption_flow_logs_and_endpoints" {
  command = plan

  assert {
    condition     = aws_kms_key.flow_logs.enable_key_rotation == true
    error_message = "The flow log KMS key must rotate."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.kms_key_id == "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-00000000f10e"
    error_message = "The flow log group must be encrypted with the module's KMS key."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.retention_in_days >= 365
    error_message = "Flow logs must be kept for at least a year."
  }

  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL" && aws_flow_log.this.log_destination_type == "cloud-watch-logs"
    error_message = "The VPC flow log must record all traffic into CloudWatch Logs."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must have no rules."
  }

  assert {
    condition     = alltrue([for s in ["ecr.api", "ecr.dkr", "sts", "secretsmanager"] : contains(keys(aws_vpc_endpoint.interface), s)])
    error_message = "Interface endpoints for ecr.api, ecr.dkr, sts and secretsmanager are required."
  }

  assert {
    condition = alltrue([
      for k, e in aws_vpc_endpoint.interface :
      e.private_dns_enabled && e.vpc_endpoint_type == "Interface" && e.service_name == "com.amazonaws.eu-west-1.${k}"
    ])
    error_message = "Interface endpoints must use private DNS and the regional service names."
  }

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "S3 must be reached through a gateway endpoint."
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.endpoints_https.from_port == 443
      && aws_vpc_security_group_ingress_rule.endpoints_https.to_port == 443
      && aws_vpc_security_group_ingress_rule.endpoints_https.cidr_ipv4 == "10.10.0.0/16"
    )
    error_message = "The endpoint security group must allow HTTPS from the VPC CIDR only."
  }

  assert {
    condition = alltrue([
      for s in concat(local.flow_log_role_policy_statements, local.flow_log_assume_role_statements, local.flow_log_kms_policy_statements) :
      !(contains(flatten([s.Action]), "*") && contains(flatten([lookup(s, "Resource", [])]), "*"))
    ])
    error_message = "No policy statement may allow action * on resource *."
  }

  assert {
    condition = alltrue([
      for s in local.flow_log_kms_policy_statements :
      s.Principal == { AWS = "arn:aws:iam::111111111111:root" } if contains(flatten([s.Action]), "kms:*")
    ])
    error_message = "Only the account root statement of the key policy may grant kms:*."
  }

  assert {
    condition     = local.flow_log_kms_policy_statements[1].Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-1:111111111111:log-group:/aws/vpc-flow-log/airflow-dev"
    error_message = "CloudWatch Logs may use the key for the flow log group only."
  }
}

run "contract_tags_cannot_be_overridden" {
  command = plan

  variables {
    tags = {
      Name                     = "something-else"
      "karpenter.sh/discovery" = "another-cluster"
      "kubernetes.io/role/elb" = "0"
    }
  }

  assert {
    condition     = aws_vpc.this.tags["Name"] == "airflow-dev"
    error_message = "var.tags must not override the VPC Name tag."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.private : s.tags["karpenter.sh/discovery"] == "airflow-dev"])
    error_message = "var.tags must not override the Karpenter discovery tag."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1"])
    error_message = "var.tags must not override the load balancer subnet tag."
  }
}

run "six_zones_in_a_slash_20" {
  command = plan

  variables {
    vpc_cidr           = "10.40.16.0/20"
    availability_zones = 6
  }

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]
    }
  }

  assert {
    condition     = length(aws_subnet.private) == 6 && alltrue([for s in aws_subnet.private : endswith(s.cidr_block, "/23")])
    error_message = "A /20 must give six /23 private subnets."
  }

  assert {
    condition     = aws_subnet.public[*].cidr_block == ["10.40.30.0/28", "10.40.30.16/28", "10.40.30.32/28", "10.40.30.48/28", "10.40.30.64/28", "10.40.30.80/28"]
    error_message = "A /20 must give six /28 public subnets from its last block."
  }
}

run "rejects_seven_zones" {
  command = plan

  variables {
    availability_zones = 7
  }

  expect_failures = [var.availability_zones]
}

run "rejects_oversized_vpc_cidr" {
  command = plan

  variables {
    vpc_cidr = "10.0.0.0/8"
  }

  expect_failures = [var.vpc_cidr]
}

run "rejects_more_zones_than_the_region_has" {
  command = plan

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names = ["eu-south-9a", "eu-south-9b"]
    }
  }

  expect_failures = [aws_vpc.this]
}

run "every_role_carries_the_boundary_and_the_prefix" {
  command = plan

  variables {
    permissions_boundary_arn = "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary"
  }

  assert {
    condition     = alltrue([for r in [aws_iam_role.flow_logs] : r.permissions_boundary == "arn:aws:iam::111111111111:policy/airflow-dev-permissions-boundary" && startswith(r.name, "airflow-dev-")])
    error_message = "Every role of the module must carry the platform's permissions boundary and its name prefix airflow-dev-."
  }
}
