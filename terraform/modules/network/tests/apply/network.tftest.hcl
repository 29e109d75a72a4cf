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
    iam  = var.aws_endpoint
    kms  = var.aws_endpoint
    logs = var.aws_endpoint
    sts  = var.aws_endpoint
  }
}

# dev's cluster.yaml network block.
variables {
  name                         = "airflow-dev"
  vpc_cidr                     = "10.10.0.0/16"
  availability_zones           = 3
  single_nat_gateway           = true
  kms_key_deletion_window_days = 7
  tags                         = { Environment = "dev" }
}

run "apply" {
  command = apply

  assert {
    condition     = data.aws_caller_identity.current.account_id == "111111111111" && aws_vpc.this.owner_id == "111111111111"
    error_message = "The VPC must be created in the emulated account (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition     = aws_vpc.this.tags["Name"] == "airflow-dev" && aws_vpc.this.cidr_block == "10.10.0.0/16" && aws_vpc.this.enable_dns_hostnames && startswith(aws_vpc.this.arn, "arn:aws:ec2:eu-west-1:111111111111:vpc/vpc-")
    error_message = "The VPC must be tagged Name = <cluster>, use the dev CIDR and have DNS host names."
  }

  assert {
    condition     = output.availability_zones == tolist(["eu-west-1a", "eu-west-1b", "eu-west-1c"]) && aws_subnet.private[*].availability_zone == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    error_message = "The subnets must be spread over the region's first three zones, in order."
  }

  assert {
    condition     = aws_subnet.private[*].cidr_block == ["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19"] && aws_subnet.public[*].cidr_block == ["10.10.224.0/24", "10.10.225.0/24", "10.10.226.0/24"]
    error_message = "The subnets must follow the address plan."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.private : s.tags["karpenter.sh/discovery"] == "airflow-dev" && s.tags["kubernetes.io/role/internal-elb"] == "1" && s.vpc_id == aws_vpc.this.id])
    error_message = "The private subnets must carry the Karpenter discovery and internal-elb tags."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && aws_nat_gateway.this[0].subnet_id == aws_subnet.public[0].id && alltrue([for r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this[0].id])
    error_message = "dev has one NAT gateway in the first public subnet, used by every private route table."
  }

  assert {
    condition     = aws_flow_log.this.log_destination == aws_cloudwatch_log_group.flow_logs.arn && aws_flow_log.this.traffic_type == "ALL" && aws_flow_log.this.iam_role_arn == "arn:aws:iam::111111111111:role/airflow-dev-vpc-flow-logs"
    error_message = "The VPC flow log must record all traffic into the log group, written by the module's role."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.name == "/aws/vpc-flow-log/airflow-dev" && aws_cloudwatch_log_group.flow_logs.kms_key_id == aws_kms_key.flow_logs.arn && startswith(aws_kms_key.flow_logs.arn, "arn:aws:kms:eu-west-1:111111111111:key/")
    error_message = "The flow log group must be encrypted with the module's key, in the emulated account."
  }

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && toset(aws_vpc_endpoint.s3.route_table_ids) == toset(aws_route_table.private[*].id) && length(aws_vpc_endpoint.interface) == 7 && alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled && e.vpc_endpoint_type == "Interface"])
    error_message = "S3 must be a gateway endpoint on the private route tables, the seven others interface endpoints with private DNS."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = aws_vpc.this.tags["Name"] == "airflow-dev" && aws_vpc.this.tags["Environment"] == "dev" && aws_vpc.this.owner_id == "111111111111"
    error_message = "Read back, the VPC must carry its contract Name tag and var.tags."
  }

  assert {
    condition     = toset(aws_subnet.private[*].cidr_block) == toset(["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19"]) && alltrue([for s in aws_subnet.private : s.tags["karpenter.sh/discovery"] == "airflow-dev"])
    error_message = "Read back, the private subnets must keep their ranges and discovery tag."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1" && !s.map_public_ip_on_launch])
    error_message = "Read back, the public subnets must carry the elb tag and hand out no public IPs."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "Read back, the default security group must have no rules."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.endpoints_https.from_port == 443 && aws_vpc_security_group_ingress_rule.endpoints_https.cidr_ipv4 == "10.10.0.0/16"
    error_message = "Read back, the endpoint security group must admit HTTPS from the VPC only."
  }

  assert {
    condition     = aws_kms_key.flow_logs.enable_key_rotation && aws_cloudwatch_log_group.flow_logs.retention_in_days == 365 && aws_cloudwatch_log_group.flow_logs.kms_key_id == aws_kms_key.flow_logs.arn
    error_message = "Read back, the flow log group must keep a year, encrypted with the rotating module key."
  }

  assert {
    condition     = aws_iam_role.flow_logs.arn == "arn:aws:iam::111111111111:role/airflow-dev-vpc-flow-logs" && jsondecode(aws_iam_role.flow_logs.assume_role_policy).Statement[0].Principal.Service == "vpc-flow-logs.amazonaws.com"
    error_message = "Read back, the flow log role must be trusted by VPC Flow Logs only."
  }
}
