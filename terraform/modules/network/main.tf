data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# Zones that every account can use without opting in (Local Zones and Wavelength Zones need an
# opt-in and cannot host EKS node groups anyway). No `state` filter: a zone that is impaired at
# plan time must not drop out of the list and shift every subnet after it.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first var.availability_zones names are used (slice of a list the provider returns sorted). AWS gives new zones later letters, so a new zone never enters that slice; pinning zone names here would hard-code one region.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  azs = slice(data.aws_availability_zones.available.names, 0, min(var.availability_zones, length(data.aws_availability_zones.available.names)))

  # Address plan, for a /16 (other prefixes scale the same way):
  #   blocks 0-5 of 8 (/19 each): private subnets, one per zone; pods take their IPs from these
  #   block 6 of 8: left free (for example for intra or database subnets later)
  #   block 7 of 8: cut into 32 /24s; the first ones are the public subnets, one per zone
  # The ranges never depend on how many zones are used, so adding a zone adds subnets and moves
  # nothing.
  private_subnet_cidrs = [for i in range(length(local.azs)) : cidrsubnet(var.vpc_cidr, 3, i)]
  public_subnet_cidrs  = [for i in range(length(local.azs)) : cidrsubnet(cidrsubnet(var.vpc_cidr, 3, 7), 5, i)]

  nat_gateway_count = var.single_nat_gateway ? 1 : length(local.azs)
  # Which NAT gateway the private route table of each zone sends internet traffic to.
  private_route_nat_index = [for i in range(length(local.azs)) : var.single_nat_gateway ? 0 : i]

  # Tags the cluster side relies on (terraform/README.md, apps/karpenter, apps/aws-load-balancer-controller).
  public_subnet_tags = {
    "kubernetes.io/role/elb" = "1"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
    "karpenter.sh/discovery"          = var.name
  }

  flow_log_group_name = "/aws/vpc-flow-log/${var.name}"
  flow_log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.flow_log_group_name}"

  # Key policy of the flow log key. The account root statement delegates key administration to
  # IAM (the AWS default key policy); CloudWatch Logs may use the key only for this log group.
  flow_log_kms_policy_statements = [
    {
      Sid       = "AccountRootManagesKeyThroughIAM"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    },
    {
      Sid       = "CloudWatchLogsUseForFlowLogGroup"
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
        ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.flow_log_group_arn }
      }
    },
  ]

  # What the flow log service may do with its role: write into its own log group only.
  flow_log_role_policy_statements = [
    {
      Sid    = "WriteFlowLogRecords"
      Effect = "Allow"
      Action = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
      ]
      Resource = [local.flow_log_group_arn, "${local.flow_log_group_arn}:*"]
    },
  ]

  flow_log_assume_role_statements = [
    {
      Sid       = "VpcFlowLogsAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc-flow-log/*" }
      }
    },
  ]
}

################################################################################
# VPC
################################################################################

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # required by interface endpoints with private DNS and by EKS

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = length(data.aws_availability_zones.available.names) >= var.availability_zones
      error_message = "The region offers ${length(data.aws_availability_zones.available.names)} Availability Zones without opt-in, fewer than availability_zones = ${var.availability_zones}."
    }
  }
}

# Take over the VPC's default security group and leave it without rules, so that nothing that
# falls back to it can talk to anything.
resource "aws_default_security_group" "this" {
  vpc_id  = aws_vpc.this.id
  ingress = []
  egress  = []

  tags = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

################################################################################
# Subnets
################################################################################

resource "aws_subnet" "public" {
  count = length(local.azs)

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.public_subnet_cidrs[count.index]
  # Nothing here needs an automatic public IP: NAT gateways use Elastic IPs and load balancers
  # get their own addresses.
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}" }, local.public_subnet_tags)
}

resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_subnet_cidrs[count.index]

  tags = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" }, local.private_subnet_tags)
}

################################################################################
# NAT and routing
################################################################################

resource "aws_eip" "nat" {
  count = local.nat_gateway_count

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_gateway_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = merge(var.tags, { Name = "${var.name}-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = length(local.azs)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# One private route table per zone whether there is one NAT gateway or several, so that switching
# single_nat_gateway only changes routes, never the tables or their associations.
resource "aws_route_table" "private" {
  count = length(local.azs)

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
}

resource "aws_route" "private_nat" {
  count = length(local.azs)

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[local.private_route_nat_index[count.index]].id
}

resource "aws_route_table_association" "private" {
  count = length(local.azs)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

################################################################################
# VPC endpoints
################################################################################

# S3 through a gateway endpoint: free, and it carries ECR image layers, Airflow remote logs and
# Terraform state off the NAT gateways.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  tags = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_security_group" "endpoints" {
  name_prefix = "${var.name}-vpc-endpoints-"
  description = "HTTPS from inside the VPC to the interface VPC endpoints of ${var.name}"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-vpc-endpoints" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = aws_vpc.this.cidr_block

  tags = merge(var.tags, { Name = "${var.name}-vpc-endpoints-https" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = merge(var.tags, { Name = "${var.name}-${each.value}" })
}

################################################################################
# Flow logs
################################################################################

resource "aws_kms_key" "flow_logs" {
  description             = "Encrypts the VPC flow log group of ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.flow_log_kms_policy_statements })

  tags = merge(var.tags, { Name = "${var.name}-vpc-flow-logs" })
}

resource "aws_kms_alias" "flow_logs" {
  name          = "alias/${var.name}-vpc-flow-logs"
  target_key_id = aws_kms_key.flow_logs.key_id
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = local.flow_log_group_name
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = aws_kms_key.flow_logs.arn

  tags = merge(var.tags, { Name = local.flow_log_group_name })
}

resource "aws_iam_role" "flow_logs" {
  name                 = "${var.name}-vpc-flow-logs"
  description          = "Lets VPC Flow Logs write the flow log group of ${var.name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.flow_log_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn

  tags = var.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-log-group"
  role   = aws_iam_role.flow_logs.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.flow_log_role_policy_statements })
}

resource "aws_flow_log" "this" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = var.flow_log_traffic_type
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn             = aws_iam_role.flow_logs.arn
  max_aggregation_interval = 60

  tags = merge(var.tags, { Name = var.name })
}
