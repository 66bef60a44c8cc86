"""Published AWS documentation examples parse to the values the documentation gives."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.unit.log_etl.conftest import parse_bytes


def test_alb_doc_examples_parse_to_documented_values(fixture_bytes):
    result = parse_bytes(fixture_bytes("alb/awsdocs-elb-alb-guide_2023-06_examples.joined.log"), "alb")
    assert result.counts.rows_out == 7
    assert not result.rejects
    https = result.table.to_pylist()[1]
    assert https["type"] == "https"
    assert https["time"] == datetime(2018, 7, 2, 22, 23, 0, 186641, tzinfo=UTC)
    assert https["event_time"] == https["time"]
    assert (https["client_ip"], https["client_port"]) == ("192.168.131.39", 2817)
    assert (https["target_ip"], https["target_port"]) == ("10.0.0.1", 80)
    assert (https["request_processing_time"], https["target_processing_time"]) == (0.086, 0.048)
    assert https["response_processing_time"] == 0.037
    assert (https["elb_status_code"], https["target_status_code"]) == (200, "200")
    assert (https["received_bytes"], https["sent_bytes"]) == (0, 57)
    assert https["request"] == "GET https://www.example.com:443/ HTTP/1.1"
    assert https["user_agent"] == "curl/7.46.0"
    assert (https["ssl_cipher"], https["ssl_protocol"]) == ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
    assert https["domain_name"] == "www.example.com"
    assert https["matched_rule_priority"] == "1"
    assert https["request_creation_time"] == datetime(2018, 7, 2, 22, 22, 48, 364000, tzinfo=UTC)
    assert https["actions_executed"] == "authenticate,forward"
    assert https["target_port_list"] == "10.0.0.1:80"
    assert https["classification"] is None
    assert https["extra_fields"] is None
    lambda_failed = result.table.to_pylist()[6]
    assert lambda_failed["target_ip"] is None
    assert lambda_failed["target_status_code"] is None
    assert lambda_failed["error_reason"] == "LambdaInvalidResponse"
    assert lambda_failed["elb_status_code"] == 502


def test_s3_doc_examples_parse_to_documented_values(fixture_bytes):
    result = parse_bytes(fixture_bytes("s3_access/awsdocs-s3-userguide_2023-06_LogFormat_example.log"), "s3_access")
    assert result.counts.rows_out == 5
    assert not result.rejects
    rows = {r["request_id"]: r for r in result.table.to_pylist()}
    policy, put = rows["A1206F460EXAMPLE"], rows["DD6CC733AEXAMPLE"]
    assert policy["time"] == datetime(2019, 2, 6, 0, 0, 38, tzinfo=UTC) == policy["event_time"]
    assert (policy["http_status"], policy["error_code"], policy["bytes_sent"]) == (404, "NoSuchBucketPolicy", 297)
    assert policy["object_size"] is None
    assert policy["total_time"] == 38
    assert policy["acl_required"] == "Yes"  # published line ends with a trailing space
    assert put["key"] == "s3-dg.pdf"
    assert put["request_uri"] == "PUT /DOC-EXAMPLE-BUCKET1/s3-dg.pdf HTTP/1.1"
    assert (put["bytes_sent"], put["object_size"], put["total_time"], put["turn_around_time"]) == (
        None,
        4406583,
        41754,
        28,
    )
    assert rows["3E57427F3EXAMPLE"]["access_point_arn"] == "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP"


def test_s3_older_short_records_fill_missing_fields_with_null(fixture_bytes):
    result = parse_bytes(fixture_bytes("s3_access/logstash-patterns-core_aws_spec_s3.log"), "s3_access")
    assert result.counts.rows_out == 3
    old = result.table.to_pylist()[1]
    assert old["key"] == "foo/bar.html"
    assert old["http_status"] == 304
    assert old["object_size"] == 1718
    assert old["host_id"] is None
    assert old["acl_required"] is None


VPC_DOC_RECORDS = (
    b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 "
    b"ACCEPT OK\n"
    b"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n"
)


def test_vpc_default_format_doc_examples():
    result = parse_bytes(VPC_DOC_RECORDS, "vpc_flow")
    accept, nodata = result.table.to_pylist()
    assert (accept["srcaddr"], accept["dstport"], accept["protocol"]) == ("172.31.16.139", 22, 6)
    assert (accept["packets"], accept["bytes"], accept["action"]) == (20, 4249, "ACCEPT")
    assert accept["event_time"] == datetime.fromtimestamp(1418530010, tz=UTC)
    assert nodata["log_status"] == "NODATA"
    assert nodata["srcaddr"] is None
    assert nodata["packets"] is None


def test_vpc_custom_format_header_sets_the_columns():
    # Format line and record from the VPC guide's custom-format example (TCP flags), header as S3 writes it.
    data = (
        b"version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport "
        b"pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status\n"
        b"3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 "
        b"123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 "
        b"1566848933 ACCEPT 2 OK\n"
    )
    result = parse_bytes(data, "vpc_flow")
    assert result.counts.lines_skipped == 1
    (row,) = result.table.to_pylist()
    assert (row["version"], row["vpc_id"], row["tcp_flags"], row["type"]) == (3, "vpc-abcdefab012345678", 2, "IPv4")
    assert (row["bytes"], row["packets"]) == (568, 8)


def test_vpc_gzipped_s3_file_skips_its_header(fixture_bytes):
    result = parse_bytes(fixture_bytes("vpc_flow/grafana-loki_lambda-promtail_vpcflowlog.log.gz"), "vpc_flow")
    assert (result.counts.lines_in, result.counts.rows_out, result.counts.lines_skipped) == (4, 3, 1)


def test_cloudfront_doc_example_parses_and_keeps_trailing_field(fixture_bytes):
    result = parse_bytes(fixture_bytes("cloudfront/awsdocs-cloudfront-guide_2023-06_example.log"), "cloudfront")
    assert (result.counts.rows_out, result.counts.lines_skipped) == (6, 2)
    rows = result.table.to_pylist()
    first = rows[0]
    assert first["date"] == date(2019, 12, 4)
    assert first["time"] == "21:02:31"
    assert first["event_time"] == datetime(2019, 12, 4, 21, 2, 31, tzinfo=UTC)
    assert (first["x_edge_location"], first["sc_bytes"], first["c_ip"]) == ("LAX1", 392, "192.0.2.100")
    assert (first["sc_status"], first["time_taken"], first["c_port"]) == (200, 0.001, 11040)
    assert first["cs_protocol_version"] == "HTTP/2.0"
    assert first["sc_content_len"] == 78
    # The third published record ends with a tab: one empty trailing field, kept.
    by_id = {r["x_edge_request_id"]: r for r in rows}
    assert by_id["f37nTMVvnKvV2ZSvEsivup_c2kZ7VXzYdjC-GUQZ5qNs-89BlWazbw=="]["extra_fields"] == [""]
    assert first["extra_fields"] is None


def test_cloudfront_old_short_record_parses(fixture_bytes):
    result = parse_bytes(fixture_bytes("cloudfront/logstash-patterns-core_aws_spec_cloudfront.log"), "cloudfront")
    old = result.table.to_pylist()[0]
    assert old["x_edge_response_result_type"] == "RefreshHit"
    assert old["cs_protocol_version"] is None


def test_cloudtrail_doc_example(fixture_bytes):
    result = parse_bytes(
        fixture_bytes("cloudtrail/awsdocs-cloudtrail-guide_2023-06_example-01-StartInstances.json"), "cloudtrail"
    )
    (row,) = result.table.to_pylist()
    assert row["eventTime"] == datetime(2014, 3, 6, 21, 22, 54, tzinfo=UTC) == row["event_time"]
    assert (row["eventName"], row["eventSource"], row["awsRegion"]) == (
        "StartInstances",
        "ec2.amazonaws.com",
        "us-east-2",
    )
    assert '"userName":"Alice"' in row["userIdentity"]
    assert '"instanceId":"i-ebeaf9e2"' in row["requestParameters"]


def test_cloudtrail_gzipped_file_and_insight_records(fixture_bytes):
    gz = parse_bytes(fixture_bytes("cloudtrail/grafana-loki_lambda-promtail_cloudtrail-log-file.json.gz"), "cloudtrail")
    assert [r["eventName"] for r in gz.table.to_pylist()] == ["AssumeRole", "BatchGetImage"]
    insight = parse_bytes(
        fixture_bytes("cloudtrail/awsdocs-cloudtrail-guide_2023-06_example-08-Insight.json"), "cloudtrail"
    )
    assert {r["eventType"] for r in insight.table.to_pylist()} == {"AwsCloudTrailInsight"}
    assert all("ApiCallRateInsight" in r["insightDetails"] for r in insight.table.to_pylist())
