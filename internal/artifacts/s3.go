package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Config says which bucket holds artifacts. Credentials are not part of it:
// they come from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared config files, an
// instance or task role), so they stay out of the importer's own settings.
type S3Config struct {
	Bucket string
	// Prefix is prepended to every key ("importer/artifacts"), so one
	// bucket can serve several deployments.
	Prefix string
	// Region is the bucket's region; empty means the SDK's (AWS_REGION, the
	// profile), or us-east-1 with a custom Endpoint.
	Region string
	// Endpoint is the base URL of an S3-compatible service (MinIO, R2, GCS's
	// XML API); empty means AWS.
	Endpoint string
	// PathStyle addresses objects as endpoint/bucket/key rather than
	// bucket.endpoint/key, which MinIO and most self-hosted services need.
	PathStyle bool
}

// MaxS3URLTTL is the longest validity of a presigned URL that S3's signature
// version 4 allows.
const MaxS3URLTTL = 7 * 24 * time.Hour

// S3 keeps artifacts in an S3-compatible bucket and publishes them with
// presigned GET URLs. A presigned URL stops working when the credentials
// that signed it expire, so with a role's temporary credentials the
// effective lifetime may be shorter than the ttl asked for.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string // no leading or trailing slash; "" for none
}

// NewS3 loads credentials through the SDK's standard chain and returns a
// store for cfg. It makes no request: a wrong bucket or missing permission
// shows up on first use.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 artifact store: no bucket given")
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := ValidKey(prefix); err != nil {
			return nil, fmt.Errorf("s3 artifact store: prefix: %w", err)
		}
	}
	if cfg.Endpoint != "" {
		if err := checkEndpoint(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("s3 artifact store: %w", err)
		}
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Endpoint != "" {
		// The SDK's default CRC32 checksums on every upload and download
		// are not implemented by every S3-compatible service (older MinIO,
		// GCS's XML API); sending them only where an operation requires
		// them keeps those services working.
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 artifact store: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, errors.New("s3 artifact store: no region: set IMPORTER_S3_REGION or AWS_REGION")
		}
		// Self-hosted services mostly ignore the region, but SigV4 needs
		// one to sign with.
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &S3{
		client:  client,
		presign: s3.NewPresignClient(client),
		bucket:  cfg.Bucket,
		prefix:  prefix,
	}, nil
}

func checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", ep, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL", ep)
	}
	return nil
}

func (s *S3) objectKey(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// Put uploads r in one PutObject. S3 needs the length up front, so a reader
// that cannot seek is first spooled to a temporary file.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	body, size, cleanup, err := sized(ctx, r)
	if err != nil {
		return 0, fmt.Errorf("put artifact %s: %w", key, err)
	}
	defer cleanup()
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.objectKey(key)),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentType(key)),
	})
	if err != nil {
		return 0, fmt.Errorf("put artifact %s to s3://%s: %w", key, s.bucket, err)
	}
	return size, nil
}

// sized returns r as a seekable body with its remaining length: r itself
// when it seeks, otherwise a temporary copy that cleanup removes.
func sized(ctx context.Context, r io.Reader) (io.ReadSeeker, int64, func(), error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		// A pipe or terminal passes as an *os.File but fails to seek; it
		// falls through to spooling.
		if cur, err := rs.Seek(0, io.SeekCurrent); err == nil {
			end, err := rs.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("measure body: %w", err)
			}
			if _, err := rs.Seek(cur, io.SeekStart); err != nil {
				return nil, 0, nil, fmt.Errorf("measure body: %w", err)
			}
			return rs, end - cur, func() {}, nil
		}
	}
	tmp, err := os.CreateTemp("", "importer-artifact-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool body: %w", err)
	}
	cleanup := func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, ctxReader{ctx: ctx, r: r})
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("spool body: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("spool body: %w", err)
	}
	return tmp, n, cleanup, nil
}

// Open streams the object; the caller closes it.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("open artifact %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("open artifact %s from s3://%s: %w", key, s.bucket, err)
	}
	return out.Body, nil
}

// URL checks that the object exists, then presigns a GET for ttl.
func (s *S3) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > MaxS3URLTTL {
		return "", fmt.Errorf("artifact URL for %s: ttl must be positive and at most %s, got %s", key, MaxS3URLTTL, ttl)
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("artifact URL for %s: %w", key, ErrNotFound)
		}
		return "", fmt.Errorf("artifact URL for %s in s3://%s: %w", key, s.bucket, err)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("artifact URL for %s: presign: %w", key, err)
	}
	return req.URL, nil
}

// Delete removes the object. S3 answers a delete of a missing key with
// success; services that answer 404 instead are treated the same way.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete artifact %s from s3://%s: %w", key, s.bucket, err)
	}
	return nil
}

// Describe is s3://bucket/prefix.
func (s *S3) Describe() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

// isNotFound recognises a missing object however the service words it: the
// modelled NoSuchKey (GET) and NotFound (HEAD, which has no body to carry a
// code), or a bare 404 from a service that sends neither. A missing bucket is
// not "not found": it is a configuration error the operator must see.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket" {
		return false
	}
	var resp *smithyhttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound
}
