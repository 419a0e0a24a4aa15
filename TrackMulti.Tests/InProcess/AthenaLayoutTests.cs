using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.S3.Model;
using DuckDB.NET.Data;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// Objects laid out for Athena (<c>S3_PARTITIONING=hourly</c>, gzip NDJSON or Parquet), read back as an analytics
/// engine reads them: DuckDB in-process over the bucket's objects (downloaded under their keys: DuckDB's S3 support
/// is an extension this machine cannot fetch), with hive partitioning from the keys.
/// </summary>
public sealed class AthenaLayoutTests : IAsyncLifetime
{
    private const string SdkKey = "client-side-key-abcdefghijklmnop";
    private S3rverBucket _bucket = null!;
    private FmeStandIn _fme = null!;
    private ApiHost _api = null!;
    private string _download = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("athena-layout");
        _fme = await FmeStandIn.StartAsync();
        _download = TestPaths.NewTemporaryDirectory("athena-objects");
    }

    public async Task DisposeAsync()
    {
        await _api.DisposeAsync();
        await _fme.DisposeAsync();
        await _bucket.DisposeAsync();
        Directory.Delete(_download, recursive: true);
    }

    [Theory]
    [InlineData("ndjson", "gzip")]
    [InlineData("parquet", "none")]
    public async Task Hourly_objects_hold_every_event_once_each_row_inside_its_partition_and_the_DDL_names_their_columns(string format, string compression)
    {
        var parquet = format == "parquet";
        _api = await ApiHost.StartAsync(_bucket, ("S3_PARTITIONING", "hourly"), ("S3_FORMAT", format), ("S3_COMPRESSION", compression),
            ("BATCH_SIZE", "50"), ("HARNESS_FME_API_KEY", SdkKey), ("FME_EVENTS_URL", _fme.EventsUrl));
        var acknowledged = new List<string>();
        for (var request = 0; request < 4; request++)
        {
            var sent = Enumerable.Range(request * 50, 50).Select(n => $"e{n}").ToList();
            var events = new JsonArray([.. sent.Select(id => (JsonNode)new JsonObject
            {
                ["trafficType"] = "user", ["name"] = "button_click", ["key"] = "user-1", ["value"] = 1.5,
                ["properties"] = new JsonObject { ["id"] = id }, ["timestamp"] = 1796109259152,
            })]);
            using var response = await _api.Http.PostAsJsonAsync("/api/batch", events);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            acknowledged.AddRange(sent);
        }
        await SdkPostAsync("/events/bulk", """[{"eventTypeId":"page_view","trafficTypeName":"user","value":2,"timestamp":1796109259152,"key":"user-1","properties":{"id":"sdk-1"}}]""");
        await SdkPostAsync("/testImpressions/bulk", """[{"f":"trackmulti_demo","i":[{"k":"user-1","t":"on","m":1796109259000,"c":5,"r":"default rule","b":"b-1","pt":1796109200000}]}]""");
        await SdkPostAsync("/testImpressions/count", """{"pf":[{"f":"trackmulti_demo","m":1796108400000,"rc":3}]}""");
        acknowledged.Add("sdk-1");
        using (var flush = await _api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        // Every object: under dt=/hour=, its format in its name and headers.
        var extension = parquet ? ".parquet" : ".ndjson.gz";
        using var s3 = _bucket.S3.CreateClient();
        var listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket.Name });
        Assert.NotEmpty(listed.S3Objects);
        foreach (var entry in listed.S3Objects)
        {
            Assert.Matches(@"^(events|impressions|impression-counts)/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/batch-.+" + Regex.Escape(extension) + "$", entry.Key);
            using var got = await s3.GetObjectAsync(_bucket.Name, entry.Key);
            Assert.Equal(parquet ? null : "gzip", got.Headers.ContentEncoding);
            Assert.Equal(parquet ? "application/vnd.apache.parquet" : "application/x-ndjson", got.Headers.ContentType);
            var path = Path.Combine(_download, entry.Key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var file = File.Create(path);
            await got.ResponseStream.CopyToAsync(file);
        }

        using var duck = new DuckDBConnection("DataSource=:memory:");
        duck.Open();
        string Files(string prefix) => parquet
            ? $"read_parquet('{_download}/{prefix}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
            : $"read_json_auto('{_download}/{prefix}/**/*.ndjson.gz', hive_partitioning = true, union_by_name = true, format = 'newline_delimited')";

        var id = parquet ? "json_extract_string(properties, '$.id')" : "properties.id"; // Parquet: properties as JSON text
        var ids = Query(duck, $"SELECT {id} FROM {Files("events")}").Select(row => (string)row[0]!).ToList();
        Assert.Equal(acknowledged.Order(), ids.Order()); // every acknowledged event, exactly once
        Assert.Equal(0L, Query(duck, $"SELECT count(*) FROM {Files("events")} WHERE CAST(receivedAt AS DATE) <> dt OR hour(receivedAt) <> hour")[0][0]);
        Assert.Equal(0L, Query(duck, $"SELECT count(*) FROM {Files("impressions")} WHERE CAST(receivedAt AS DATE) <> dt OR hour(receivedAt) <> hour")[0][0]);

        // The DDL the Api prints names exactly the columns in the objects, table by table.
        var ddl = await _api.Http.GetStringAsync("/api/athena/ddl");
        foreach (var (table, prefix) in new[] { ("trackmulti_events", "events"), ("trackmulti_impressions", "impressions"), ("trackmulti_impression_counts", "impression-counts") })
        {
            var written = Query(duck, $"DESCRIBE SELECT * FROM {Files(prefix)}").Select(row => (string)row[0]!)
                .Where(column => column is not ("dt" or "hour")).ToHashSet();
            Assert.Equal(written.Order(), ColumnsOf(ddl, table).Order());
            Assert.Contains($"'storage.location.template' = 's3://{_bucket.Name}/{prefix}/dt=${{dt}}/hour=${{hour}}/'", ddl);
        }
        Assert.Contains("'projection.dt.type' = 'date'", ddl);
        Assert.Contains(parquet ? "STORED AS PARQUET" : "org.apache.hive.hcatalog.data.JsonSerDe", ddl);
        if (!parquet)
        {
            // Every stored receivedAt parses with its table's timestamp.formats as Athena reads the DDL (Hive's lexer,
            // Joda-Time's patterns), to the instant its text names.
            var tables = HiveDdl.CreateStatements(ddl).ToDictionary(statement => statement[6].Text); // CREATE EXTERNAL TABLE IF NOT EXISTS name
            foreach (var (table, prefix) in new[] { ("trackmulti_events", "events"), ("trackmulti_impressions", "impressions"), ("trackmulti_impression_counts", "impression-counts") })
            {
                var formats = HiveDdl.TimestampFormats(HiveDdl.Properties(tables[table], "SERDEPROPERTIES")["timestamp.formats"]);
                var stored = ReceivedAtIn(Path.Combine(_download, prefix));
                Assert.NotEmpty(stored);
                Assert.All(stored, written => Assert.Equal(
                    DateTimeOffset.Parse(written, CultureInfo.InvariantCulture).UtcDateTime,
                    formats.Select(format => JodaPattern.Parse(format, written)).FirstOrDefault(time => time is not null)));
            }
        }
        if (parquet)
        {
            Assert.Equal(1796109259152L, Query(duck, $"SELECT timestamp FROM {Files("events")} WHERE {id} = 'sdk-1'")[0][0]); // typed
            foreach (var file in Directory.GetFiles(_download, "*.parquet", SearchOption.AllDirectories))
            {
                Assert.Equal(1L, Query(duck, $"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{file}')")[0][0]); // one per batch
            }
        }

        // The FME sink reads the same objects back: the SDK's event and impression reach FME from them.
        await Poll.UntilAsync(() => _fme.PostsTo("/events/bulk").Count > 0 && _fme.PostsTo("/testImpressions/bulk").Count > 0);
        var forwarded = Assert.Single(Assert.Single(_fme.PostsTo("/events/bulk")).Events());
        Assert.Equal("""{"eventTypeId":"page_view","trafficTypeName":"user","key":"user-1","value":2,"timestamp":1796109259152,"properties":{"id":"sdk-1"}}""", forwarded.ToJsonString());
        Assert.Equal("on", Assert.Single(Assert.Single(_fme.PostsTo("/testImpressions/bulk")).Impressions())["t"]!.GetValue<string>());

        // The page's list shows the partitioned keys with their event counts.
        var recent = await _api.Http.GetFromJsonAsync<JsonObject>("/api/objects?limit=100");
        var objects = recent!["objects"]!.AsArray();
        Assert.All(objects, o => Assert.StartsWith("events/dt=", o!["key"]!.GetValue<string>()));
        Assert.Equal(acknowledged.Count, objects.Sum(o => o!["events"]!.GetValue<int>()));
    }

    private static List<string> ColumnsOf(string ddl, string table)
    {
        var body = Regex.Match(ddl, $@"CREATE EXTERNAL TABLE IF NOT EXISTS {table} \((.*?)\n\)", RegexOptions.Singleline);
        Assert.True(body.Success, $"no table {table} in the DDL");
        return [.. Regex.Matches(body.Groups[1].Value, @"`(\w+)`").Select(m => m.Groups[1].Value)];
    }

    /// <summary>The receivedAt text of every row in the gzip NDJSON objects under <paramref name="folder"/>.</summary>
    private static List<string> ReceivedAtIn(string folder) =>
        [.. Directory.GetFiles(folder, "*.ndjson.gz", SearchOption.AllDirectories).SelectMany(file =>
        {
            using var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
            using var lines = new StreamReader(gzip);
            return lines.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonNode.Parse(line)!["receivedAt"]!.GetValue<string>()).ToList();
        })];

    private async Task SdkPostAsync(string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/fme/api" + path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SdkKey);
        using var response = await _api.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static List<object?[]> Query(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }
            rows.Add(row);
        }
        return rows;
    }
}
