using System;
using System.Collections;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BackupRepo
{
    /// <summary>
    /// JSON of plain values (dictionaries, arrays, strings, numbers): the engine's
    /// options, and the drop-in script's output (backup-repo.ps1 -OutputFormat json),
    /// written as ConvertTo-Json writes them. Why not ConvertTo-Json: its first use
    /// loads Microsoft.PowerShell.Utility and its serializer, about 0.2 s of a run
    /// that otherwise takes under 0.1 s; why not JsonSerializer/JsonNode: their
    /// generic machinery is JIT-compiled on first use in every fresh pwsh.
    /// </summary>
    public static class PlainJson
    {
        private const int MaxDepth = 64;

        private static readonly JsonWriterOptions Options = new()
        {
            Indented = true,
            // Console text, not HTML: keep non-ASCII names and '<', '&' readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };

        /// <summary>
        /// Dictionaries become objects (keys in their order), other enumerables arrays,
        /// PowerShell-wrapped values their base object, dates ISO 8601 strings, enums
        /// their names; anything else its invariant string.
        /// </summary>
        public static string Serialize(object? value)
        {
            using var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream, Options))
            {
                Write(writer, value, 0);
            }
            return Encoding.UTF8.GetString(stream.ToArray());
        }

        private static void Write(Utf8JsonWriter w, object? value, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new ArgumentException($"PlainJson: nesting deeper than {MaxDepth} levels (a cycle?)");
            }
            if (value is PSObject ps)
            {
                if (ps.BaseObject is PSCustomObject)
                {
                    w.WriteStartObject();
                    foreach (PSPropertyInfo p in ps.Properties)
                    {
                        w.WritePropertyName(p.Name);
                        Write(w, p.Value, depth + 1);
                    }
                    w.WriteEndObject();
                    return;
                }
                value = ps.BaseObject;
            }
            switch (value)
            {
                case null:
                    w.WriteNullValue();
                    return;
                case string s:
                    w.WriteStringValue(s);
                    return;
                case char c:
                    w.WriteStringValue(c.ToString());
                    return;
                case bool b:
                    w.WriteBooleanValue(b);
                    return;
                case Enum e:
                    w.WriteStringValue(e.ToString());
                    return;
                case sbyte or byte or short or ushort or int or uint or long:
                    w.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                    return;
                case ulong u:
                    w.WriteNumberValue(u);
                    return;
                case float or double:
                    double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                    if (double.IsFinite(d)) w.WriteNumberValue(d); else w.WriteNullValue();
                    return;
                case decimal m:
                    w.WriteNumberValue(m);
                    return;
                case DateTime dt:
                    w.WriteStringValue(dt.ToString("o", CultureInfo.InvariantCulture));
                    return;
                case DateTimeOffset dto:
                    w.WriteStringValue(dto.ToString("o", CultureInfo.InvariantCulture));
                    return;
                case IDictionary dict:
                    w.WriteStartObject();
                    foreach (DictionaryEntry entry in dict)
                    {
                        w.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "");
                        Write(w, entry.Value, depth + 1);
                    }
                    w.WriteEndObject();
                    return;
                case IEnumerable items:
                    w.WriteStartArray();
                    foreach (object? item in items)
                    {
                        Write(w, item, depth + 1);
                    }
                    w.WriteEndArray();
                    return;
                default:
                    w.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                    return;
            }
        }
    }
}
