// Package albs3 reads AWS Application Load Balancer access logs from an
// S3 prefix, as ALB writes them, each object once — the S3 counterpart
// of collector/albdir, sharing its state file handling
// (collector/internal/objstate) and its line reading
// (collector/internal/logread).
//
// A [Reader] lists the objects under [Config.URL] (s3://bucket/prefix)
// with ListObjectsV2 every [Config.PollInterval] and reads each object
// named *.log or *.log.gz it has not read yet, in key order: gunzipped,
// each line parsed as an ALB access log line (correlate/alb) and handed
// to a consumer.Consumer with "s3://bucket/key:number" as its Where.
//
// ALB names its objects
//
//	AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/<account>_elasticloadbalancing_<region>_app.<lb>.<id>_<yyyymmddThhmmZ>_<ip>_<random>.log.gz
//
// so within a day a new object can sort before one already read (another
// load balancer or node). A listing therefore starts after a cursor
// (StartAfter) that only passes objects whose day directory is older than
// [Config.Lookback] and that were all read; every object after the
// cursor that was read is remembered by key. Listing a long-lived bucket
// costs the objects of the last Lookback days, not its whole history. An
// object written into a day directory older than Lookback after the
// cursor passed it is not read; ALB does not do that. Keys without a
// yyyy/mm/dd directory never move the cursor.
//
// With [Config.QueueURL] the Reader lists the prefix once at Start (what
// was written while it was down) and then reads the objects that the
// bucket's S3 event notifications in that SQS queue name: the message
// body is the S3 event JSON ([DecodeNotification]); a message is deleted
// once every object it names under the prefix was read (or was read
// before). The s3:TestEvent S3 sends when notifications are configured
// is deleted as it is. A message that cannot be decoded is reported and
// left in the queue (its redrive policy applies).
//
// The state — the cursor and the objects read after it, with their size
// and ETag — is written atomically to albs3-state.json in
// [Config.StateDir] after each object, so that a new Reader with the same
// StateDir reads no object twice and misses none; a Reader stopped
// within an object records how many lines it delivered and the next one
// continues after them. Delivery is at least once: an object being read
// at a crash is read again.
//
// Credentials come from the AWS SDK's default chain: environment
// variables, the shared config and credentials files, web identity (IRSA
// on EKS: AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, set by the EKS pod
// identity webhook from the ServiceAccount's eks.amazonaws.com/role-arn
// annotation), ECS and EC2 instance roles. [Config.Endpoint] and
// [Config.PathStyle] point the Reader at an S3-compatible server.
//
// No object stops a Reader: a corrupt gzip object delivers the lines
// before the damage, is reported through [Config.OnError] and counted as
// failed, and is still recorded as read, so it is never retried. An
// object that cannot be fetched is reported and retried at the next poll.
package albs3
