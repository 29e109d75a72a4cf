output "vpc_id" {
  description = "ID of the VPC (tagged `Name = <name>`)."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per Availability Zone, in the order of `availability_zones`. EKS, its nodes and the interface endpoints live here."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per Availability Zone, in the order of `availability_zones`. NAT gateways and internet-facing load balancers live here."
  value       = aws_subnet.public[*].id
}

output "private_route_table_ids" {
  description = "IDs of the private route tables, one per Availability Zone."
  value       = aws_route_table.private[*].id
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways: one, or one per Availability Zone."
  value       = aws_nat_gateway.this[*].id
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways, the addresses the cluster's egress comes from."
  value       = aws_eip.nat[*].public_ip
}

output "availability_zones" {
  description = "Names of the Availability Zones the subnets are in."
  value       = local.azs
}

output "endpoint_security_group_id" {
  description = "ID of the security group of the interface VPC endpoints (HTTPS from the VPC CIDR)."
  value       = aws_security_group.endpoints.id
}

output "flow_log_group_name" {
  description = "Name of the CloudWatch Logs group that holds the VPC flow log."
  value       = aws_cloudwatch_log_group.flow_logs.name
}
