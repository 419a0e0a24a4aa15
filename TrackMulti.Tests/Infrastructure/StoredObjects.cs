using System.Text;
using System.Text.Json.Nodes;
using Amazon.S3;
using Amazon.S3.Model;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>An object read back from S3: its key, content type and bytes.</summary>
internal sealed record StoredObject(string Key, string ContentType, byte[] Content)
{
    public string Text => Encoding.UTF8.GetString(Content);

    /// <summary>The NDJSON lines; every line must end with '\n' and parse as a JSON object.</summary>
    public IReadOnlyList<JsonObject> Lines()
    {
        Assert.EndsWith("\n", Text);
        return [.. Text[..^1].Split('\n').Select(line => Assert.IsType<JsonObject>(JsonNode.Parse(line)))];
    }

    public static async Task<IReadOnlyList<StoredObject>> ReadAllAsync(IAmazonS3 s3, string bucket, string prefix = "events/")
    {
        var objects = new List<StoredObject>();
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request);
            foreach (var entry in page.S3Objects ?? [])
            {
                using var response = await s3.GetObjectAsync(bucket, entry.Key);
                using var content = new MemoryStream();
                await response.ResponseStream.CopyToAsync(content);
                objects.Add(new StoredObject(entry.Key, response.Headers.ContentType, content.ToArray()));
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);
        return [.. objects.OrderBy(o => o.Key, StringComparer.Ordinal)];
    }
}
